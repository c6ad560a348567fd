"""Who may connect to the stream: the token and the browser-origin checks.

With ``token`` set, ``/ws`` needs ``?token=...`` or ``Authorization: Bearer ...`` (HTTP 401
otherwise; compared in constant time). Browser origins are checked (HTTP 403): by default
only local pages (localhost / loopback / IP-literal same-origin) may connect;
``allowed_origins`` lists others (``"*"`` allows any). Clients that send no ``Origin``
(non-browser) are not origin-checked: use a token when that matters. The default bind is
loopback; :func:`security_warnings` says what is unsafe about a configuration.
"""

from __future__ import annotations

import hmac
import http
import ipaddress
import logging
from urllib.parse import parse_qs, urlsplit

from websockets.datastructures import Headers
from websockets.http11 import Response

from realtime.server.config import ServerConfig
from realtime.server.static import text_response

__all__ = ["authorized", "check_stream_request", "is_loopback", "origin_allowed", "security_warnings"]

log = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an IP literal, IPv6 maybe in brackets) is this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def security_warnings(config: ServerConfig) -> list[str]:
    """Problems with a configuration that the server logs at WARNING level when it starts.

    Args:
        config: the server settings.

    Returns:
        One sentence per problem (empty when the setup is safe).
    """
    out = []
    if not is_loopback(config.host) and config.token is None:
        out.append(
            f"binding {config.host or 'all interfaces'} without a token: anyone who can reach this "
            "machine can watch the pose stream; set a token (clients pass ?token=... or "
            "'Authorization: Bearer ...') or bind 127.0.0.1"
        )
    if config.allowed_origins is not None and "*" in config.allowed_origins:
        out.append("allowed_origins contains '*': any web page the user opens may read the pose stream")
    return out


def _origin_is_local(origin: str, host_header: str | None) -> bool:
    """A page on localhost / a loopback address, or served by this server under an IP-literal host.

    A domain name other than ``localhost`` is never trusted by default: DNS rebinding
    can point any name at this machine.
    """
    try:
        o = urlsplit(origin)
        hostname = o.hostname
    except ValueError:
        return False
    if o.scheme not in ("http", "https") or not hostname:
        return False
    if is_loopback(hostname):
        return True
    try:
        ipaddress.ip_address(hostname)
    except ValueError:
        return False
    return host_header is not None and o.netloc.lower() == host_header.lower()


def origin_allowed(config: ServerConfig, origin: str | None, host_header: str | None) -> bool:
    """Whether a request with this ``Origin`` (None = not a browser) may open the stream."""
    if origin is None:
        return True  # not a browser: origins mean nothing there (use a token)
    allowed = config.allowed_origins
    if allowed is not None and ("*" in allowed or origin in allowed):
        return True
    return _origin_is_local(origin, host_header)


def authorized(token: str | None, query: str, headers: Headers) -> bool:
    """Whether the request carries ``token`` (in the query or as a bearer token); always True without one."""
    if token is None:
        return True
    expected = token.encode()
    for given in parse_qs(query).get("token", []):
        if hmac.compare_digest(given.encode(), expected):
            return True
    auth = headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), expected)


def check_stream_request(config: ServerConfig, query: str, headers: Headers) -> Response | None:
    """The refusal of a stream request (403 wrong origin, 401 no valid token), or None to let it in."""
    if not origin_allowed(config, headers.get("Origin"), headers.get("Host")):
        log.info("rejected a stream request from origin %r (403)", headers.get("Origin"))
        return text_response(http.HTTPStatus.FORBIDDEN, "origin not allowed\n")
    if not authorized(config.token, query, headers):
        log.info("rejected a stream request without a valid token (401)")
        response = text_response(http.HTTPStatus.UNAUTHORIZED, "a valid token is required: ?token=... or 'Authorization: Bearer ...'\n")
        response.headers["WWW-Authenticate"] = 'Bearer realm="skeletor"'
        return response
    return None
