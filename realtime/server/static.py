"""The browser viewer's files (``realtime/viewer/``), served from memory, and short text answers.

The files are read once when the server starts; only the top level of the folder and known
types are served, with a strict Content-Security-Policy (the viewer loads nothing from
elsewhere).
"""

from __future__ import annotations

import http
import logging
from pathlib import Path

from websockets.datastructures import Headers
from websockets.http11 import Response

__all__ = ["VIEWER_DIR", "load_static", "static_response", "text_response"]

log = logging.getLogger(__name__)

VIEWER_DIR = Path(__file__).resolve().parent.parent / "viewer"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
# The viewer needs nothing from elsewhere; keep it that way.
CSP = "default-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; style-src 'self'; script-src 'self'; base-uri 'none'; frame-ancestors 'none'"


def text_response(status: http.HTTPStatus, text: str) -> Response:
    """A short ``text/plain`` answer (errors, refusals)."""
    body = text.encode()
    return Response(
        status.value,
        status.phrase,
        Headers([("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))), ("Connection", "close")]),
        body,
    )


def load_static(folder: Path) -> dict[str, tuple[bytes, str]]:
    """The viewer's files (top level of ``folder``, known types only), read once into memory."""
    if not folder.is_dir():
        log.warning("viewer folder %s is missing; / will answer 404", folder)
        return {}
    out = {}
    for path in sorted(folder.iterdir()):
        content_type = CONTENT_TYPES.get(path.suffix.lower())
        if path.is_file() and content_type is not None:
            out[path.name] = (path.read_bytes(), content_type)
    return out


def static_response(files: dict[str, tuple[bytes, str]], path: str) -> Response:
    """The answer to ``GET path``: one of ``files`` (``/`` = ``index.html``), or 404."""
    name = "index.html" if path == "/" else path.lstrip("/")
    entry = files.get(name)
    if entry is None:
        return text_response(http.HTTPStatus.NOT_FOUND, "not found\n")
    body, content_type = entry
    return Response(
        http.HTTPStatus.OK.value,
        "OK",
        Headers(
            [
                ("Content-Type", content_type),
                ("Content-Length", str(len(body))),
                ("Cache-Control", "no-cache"),
                ("X-Content-Type-Options", "nosniff"),
                ("Content-Security-Policy", CSP),
                ("Connection", "close"),
            ]
        ),
        body,
    )
