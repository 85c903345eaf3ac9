from django.urls import re_path

from web.consumers import JobsConsumer

websocket_urlpatterns = [
    re_path(r"^ws/jobs/?$", JobsConsumer.as_asgi()),
]
