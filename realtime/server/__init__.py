"""The websocket + HTTP server (see :mod:`realtime.server.app`)."""

from realtime.server.app import VIEWER_DIR, WS_PATH, PoseServer, ServerConfig, ServerThread, security_warnings

__all__ = ["ServerConfig", "PoseServer", "ServerThread", "security_warnings", "VIEWER_DIR", "WS_PATH"]
