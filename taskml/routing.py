"""Every websocket route, as taskml/urls.py holds every HTTP route: each app lists its own."""

from streaming.routing import websocket_urlpatterns as streaming_routes
from web.routing import websocket_urlpatterns as web_routes

websocket_urlpatterns = [*streaming_routes, *web_routes]
