"""Label Studio's ML backend connection offers HTTP Basic auth: the user name with the user's
API token as the password. Unknown tokens count as failed sign-ins, as for the token header."""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.authentication import BasicAuthentication
from rest_framework.authtoken.models import Token

from taskml.throttles import sign_in_failed, sign_in_wait


class BasicTokenAuthentication(BasicAuthentication):
    www_authenticate_realm = "taskml ML backend"

    def authenticate(self, request):
        if not request.META.get("HTTP_AUTHORIZATION", "").lower().startswith("basic "):
            return None
        wait = sign_in_wait(request)
        if wait:
            raise exceptions.Throttled(wait, detail="too many failed sign-in attempts")
        try:
            return super().authenticate(request)
        except exceptions.AuthenticationFailed:
            sign_in_failed(request)
            raise

    def authenticate_credentials(self, userid, password, request=None):
        token = Token.objects.select_related("user").filter(key=password).first()
        if token is None or token.user.get_username() != userid or not token.user.is_active:
            raise exceptions.AuthenticationFailed("user name and API token do not match")
        return token.user, token
