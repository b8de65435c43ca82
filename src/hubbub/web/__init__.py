"""The one HTTP port: static site, HTTP API (API Gateway v2 shapes), MQTT over WebSocket."""

from hubbub.web.routes import Router
from hubbub.web.server import WebServer
from hubbub.web.static import StaticSite

__all__ = ["Router", "StaticSite", "WebServer"]
