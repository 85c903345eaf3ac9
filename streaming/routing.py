from django.urls import re_path

from streaming.consumers import LiveSessionConsumer

websocket_urlpatterns = [
    re_path(r"^ws/streams/(?P<session_id>\d+)/?$", LiveSessionConsumer.as_asgi()),
]
