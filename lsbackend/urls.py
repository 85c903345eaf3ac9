from django.urls import re_path

from lsbackend.views import MLBackendView

OPERATIONS = ("health", "setup", "predict", "webhook", "versions", "validate", "train")

# Label Studio joins its calls to the backend URL without a trailing slash ("…/5/predict"):
# both spellings are served (a redirect would lose a POST body).
urlpatterns = [
    *(re_path(rf"^(?P<model_id>\d+)/{op}/?$", MLBackendView.as_view(operation=op), name=f"ls-{op}")
      for op in OPERATIONS),
    *(re_path(rf"^policy/(?P<policy_id>\d+)/{op}/?$", MLBackendView.as_view(operation=op), name=f"ls-policy-{op}")
      for op in OPERATIONS),
]  # fmt: skip
