"""The websocket + HTTP server: pose frames to any number of clients, and the browser viewer.

One module per job:

- :mod:`~realtime.server.config`: :class:`ServerConfig`, ``WS_PATH``;
- :mod:`~realtime.server.auth`: the token and browser-origin checks, :func:`security_warnings`;
- :mod:`~realtime.server.static`: the viewer's files, served from memory;
- :mod:`~realtime.server.fanout`: each client's newest-frame-wins slot and its sender;
- :mod:`~realtime.server.stats`: counters;
- :mod:`~realtime.server.app`: :class:`PoseServer`, which ties them together on an asyncio loop;
- :mod:`~realtime.server.thread`: :class:`ServerThread`, the server in a background thread.

The public names are re-exported here: ``from realtime.server import ServerConfig, ServerThread``.
"""

from realtime.server.app import PoseServer
from realtime.server.auth import security_warnings
from realtime.server.config import WS_PATH, ServerConfig
from realtime.server.static import VIEWER_DIR
from realtime.server.thread import ServerThread

__all__ = ["ServerConfig", "PoseServer", "ServerThread", "security_warnings", "VIEWER_DIR", "WS_PATH"]
