"""The websocket sink's flags: serving other machines needs a token or an explicit --no-token;
a busy port is one line that names it and what to do."""

from __future__ import annotations

import socket

import pytest

from realtime.cli import build_parser, main
from realtime.sinks import sinks_from_args
from realtime.sinks.websocket import WebsocketSink


def _server_sink(words: list[str]) -> WebsocketSink:
    sink = sinks_from_args(build_parser().parse_args(words))[0]
    assert isinstance(sink, WebsocketSink)
    return sink


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "", "example.org"])
def test_a_non_loopback_host_without_a_token_is_refused(host: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SKELETOR_TOKEN", raising=False)
    with pytest.raises(ValueError, match="--token") as exc:
        sinks_from_args(build_parser().parse_args(["--host", host]))
    assert "--no-token" in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_needs_no_token(host: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SKELETOR_TOKEN", raising=False)
    assert _server_sink(["--host", host]).config.token is None


def test_a_token_or_an_explicit_no_token_serves_other_machines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SKELETOR_TOKEN", raising=False)
    assert _server_sink(["--host", "0.0.0.0", "--token", "s3cret"]).config.token == "s3cret"
    assert _server_sink(["--host", "0.0.0.0", "--no-token"]).config.token is None
    monkeypatch.setenv("SKELETOR_TOKEN", "from-env")
    assert _server_sink(["--host", "0.0.0.0"]).config.token == "from-env"
    assert _server_sink(["--host", "0.0.0.0", "--no-token"]).config.token is None  # explicit beats the environment


def test_token_and_no_token_together_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["--token", "a", "--no-token"])
    assert exc.value.code == 2 and "not allowed with argument" in capsys.readouterr().err


def test_live_refuses_an_open_host_without_a_token_in_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Refused before anything binds or starts: exit 2 and one line saying what to add."""
    monkeypatch.delenv("SKELETOR_TOKEN", raising=False)
    assert main(["--demo", "--host", "0.0.0.0", "--port", "0", "--frames", "5", "--no-status"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("skeletor-live: ") and "--token" in err[0] and "--no-token" in err[0] and "0.0.0.0" in err[0]


def test_a_busy_port_is_one_line_naming_the_port_and_what_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["--demo", "--frames", "5", "--port", str(port), "--no-refine", "--no-status"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err  # no traceback
    assert f"127.0.0.1:{port}" in err[0] and "in use" in err[0] and "--port" in err[0]
