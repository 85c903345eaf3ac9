from django.urls import re_path

from streaming.consumers import LiveSessionConsumer
from web.consumers import JobsConsumer

websocket_urlpatterns = [
    re_path(r"^ws/streams/(?P<session_id>\d+)/?$", LiveSessionConsumer.as_asgi()),
    re_path(r"^ws/jobs/?$", JobsConsumer.as_asgi()),
]
