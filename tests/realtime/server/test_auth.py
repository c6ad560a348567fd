"""Token and browser-origin checks on their own (test_server.py runs them in a real server)."""

from __future__ import annotations

from websockets.datastructures import Headers

from realtime.server.auth import authorized, check_stream_request, is_loopback, origin_allowed
from realtime.server.config import ServerConfig


def test_loopback_names() -> None:
    assert all(is_loopback(h) for h in ("localhost", "127.0.0.1", "127.1.2.3", "::1", "[::1]"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "192.168.1.20", "example.com", ""))


def test_origins_local_pages_listed_ones_and_no_browser() -> None:
    config = ServerConfig(allowed_origins=("https://tool.example",))
    assert origin_allowed(config, None, "127.0.0.1:8765")  # not a browser
    assert origin_allowed(config, "http://localhost:3000", None)
    assert origin_allowed(config, "http://192.168.1.20:8765", "192.168.1.20:8765")  # served by us, IP literal
    assert not origin_allowed(config, "http://192.168.1.20:8765", "192.168.1.20:9999")
    assert origin_allowed(config, "https://tool.example", None)
    assert not origin_allowed(config, "https://evil.example", None)
    assert not origin_allowed(config, "http://rebind.example:8765", "rebind.example:8765")  # names other than localhost: never by default
    assert origin_allowed(ServerConfig(allowed_origins=("*",)), "https://evil.example", None)


def test_tokens_in_the_query_or_as_bearer() -> None:
    assert authorized(None, "", Headers())
    assert authorized("s3", "token=s3", Headers())
    assert authorized("s3", "", Headers([("Authorization", "Bearer s3")]))
    assert not authorized("s3", "token=s4", Headers([("Authorization", "Basic s3")]))
    assert not authorized("s3", "", Headers())


def test_refusals_are_403_then_401() -> None:
    config = ServerConfig(token="s3")
    bad_origin = check_stream_request(config, "token=s3", Headers([("Origin", "https://evil.example")]))
    assert bad_origin is not None and bad_origin.status_code == 403
    no_token = check_stream_request(config, "", Headers())
    assert no_token is not None and no_token.status_code == 401 and no_token.headers["WWW-Authenticate"] == 'Bearer realm="skeletor"'
    assert check_stream_request(config, "token=s3", Headers([("Origin", "http://127.0.0.1:8765")])) is None
