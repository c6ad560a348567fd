"""The Blender client's networking: a minimal WebSocket client (standard library only, RFC 6455)
in a thread, keeping the newest rig frame for Blender's timer to take.

Blender's Python has no ``websockets``; this client does what Skeletor Live's server needs:
the handshake (with an optional bearer token), text and binary messages, fragments, answers to
pings (the server drops a client that does not answer within 20 s) and close. No TLS
(``wss://``), no extensions (the server offers no compression by default).

The thread reads ``hello`` (the rig: bones, parents, rest offsets), sends the subscription
(binary frames with ``rotations``), keeps the newest ``rig`` message's offsets, and puts each
frame's rig in a one-frame slot (newest frame wins), reconnecting after a drop.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import socket
import struct
import threading
from urllib.parse import urlsplit

from .rig_pose import RigFrame, decode_rig_frame

__all__ = ["StreamThread", "WebSocket"]

log = logging.getLogger(__name__)

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CLOSE, PING, PONG, CONTINUATION = 1, 2, 8, 9, 10, 0


class WebSocket:
    """A blocking WebSocket client connection.

    Args:
        url: ``ws://host:port/path`` (``?token=...`` allowed).
        token: sent as ``Authorization: Bearer``.
        timeout: seconds for connecting and for each read.
        max_message: largest message accepted, bytes.

    Raises:
        OSError: no connection, or the server refused the handshake (the HTTP status in the message).
    """

    def __init__(self, url: str, token: str = "", timeout: float = 5.0, max_message: int = 1 << 22) -> None:
        parts = urlsplit(url)
        if parts.scheme != "ws" or not parts.hostname:
            raise OSError(f"expected a ws://host:port/ws URL, got {url!r}")
        self.max_message = max_message
        self._parts: list[bytes] = []
        self._kind = TEXT
        self.sock = socket.create_connection((parts.hostname, parts.port or 80), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
        lines = [f"GET {path} HTTP/1.1", f"Host: {host}", "Upgrade: websocket", "Connection: Upgrade",
                 f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]  # fmt: skip
        if token:
            lines.append(f"Authorization: Bearer {token}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk or len(head) > 65536:
                self.sock.close()
                raise OSError("the server closed the connection during the handshake")
            head += chunk
        head, self._buf = head.split(b"\r\n\r\n", 1)
        status, *headers = head.decode("latin-1").split("\r\n")
        if " 101 " not in status + " ":
            self.sock.close()
            raise OSError(f"handshake refused: {status} (401: token, 403: origin, 503: server full)")
        accept = base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()
        if not any(h.lower().startswith("sec-websocket-accept:") and h.split(":", 1)[1].strip() == accept for h in headers):
            self.sock.close()
            raise OSError("handshake: bad Sec-WebSocket-Accept")

    def _need(self, n: int) -> None:
        """Buffer at least ``n`` bytes; a read timeout leaves what was buffered in place."""
        while len(self._buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self._buf)))
            if not chunk:
                raise ConnectionError("the server closed the connection")
            self._buf += chunk

    def _frame(self) -> tuple[int, int, bytes]:
        """The next frame as (FIN + opcode byte, opcode, payload), consumed only once complete."""
        self._need(2)
        b0, b1 = self._buf[0], self._buf[1]
        n, at = b1 & 0x7F, 2
        if n == 126:
            self._need(4)
            (n,) = struct.unpack_from(">H", self._buf, 2)
            at = 4
        elif n == 127:
            self._need(10)
            (n,) = struct.unpack_from(">Q", self._buf, 2)
            at = 10
        if n > self.max_message:
            raise ConnectionError(f"a message of {n} bytes")
        masked = b1 & 0x80
        self._need(at + (4 if masked else 0) + n)
        mask = self._buf[at : at + 4] if masked else b""
        at += len(mask)
        data, self._buf = self._buf[at : at + n], self._buf[at + n :]
        if mask:
            data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        return b0, b0 & 0x0F, data

    def send(self, payload: bytes | str, opcode: int | None = None) -> None:
        """Send one message (text for ``str``), masked as a client must."""
        data = payload.encode() if isinstance(payload, str) else payload
        op = opcode if opcode is not None else (TEXT if isinstance(payload, str) else BINARY)
        n = len(data)
        if n < 126:
            head = struct.pack(">BB", 0x80 | op, 0x80 | n)
        elif n < 65536:
            head = struct.pack(">BBH", 0x80 | op, 0x80 | 126, n)
        else:
            head = struct.pack(">BBQ", 0x80 | op, 0x80 | 127, n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.sock.sendall(head + mask + masked)

    def recv(self) -> bytes | str:
        """The next text (``str``) or binary (``bytes``) message; pings are answered on the way.

        Raises:
            ConnectionError: the server closed the connection (or sent a close frame).
        """
        while True:
            b0, op, data = self._frame()
            if op == PING:
                self.send(data, PONG)
                continue
            if op == PONG:
                continue
            if op == CLOSE:
                try:
                    self.send(data[:2], CLOSE)
                except OSError:
                    pass
                code = struct.unpack(">H", data[:2])[0] if len(data) >= 2 else 1005
                raise ConnectionError(f"the server closed the stream (code {code})")
            if op != CONTINUATION:
                self._kind, self._parts = op, []
            self._parts.append(data)  # kept on self: a read timeout between fragments loses nothing
            if b0 & 0x80:  # FIN
                msg, self._parts = b"".join(self._parts), []
                return msg.decode("utf-8") if self._kind == TEXT else msg

    def close(self) -> None:
        """Close the connection (code 1000)."""
        try:
            self.send(struct.pack(">H", 1000), CLOSE)
        except OSError:
            pass
        self.sock.close()


class StreamThread(threading.Thread):
    """Receives the rig in the background; :meth:`take` hands Blender's timer the newest frame.

    Args:
        url: the server's stream, e.g. ``ws://127.0.0.1:8765/ws``.
        token: the server's token, if it has one.
        fmt: ``"binary"`` (default) or ``"json"`` frames.

    Attributes:
        rig: ``hello``'s rig (``bones``, ``parents``, ``rest_offsets``), once connected.
        rest_offsets: the newest rest offsets (a ``rig`` message's, else ``hello``'s).
        status: a few words for the panel (connecting, connected, the last error).
        frames: frames received.
    """

    def __init__(self, url: str, token: str = "", fmt: str = "binary") -> None:
        super().__init__(name="skeletor-live", daemon=True)
        self.url, self.token, self.fmt = url, token, fmt
        self.rig: dict | None = None
        self.rest_offsets: list[list[float]] | None = None
        self.status = "connecting"
        self.frames = 0
        self._lock = threading.Lock()
        self._newest: RigFrame | None = None
        self._quit = threading.Event()
        self._ws: WebSocket | None = None

    def take(self) -> RigFrame | None:
        """The newest frame not taken yet (None if none came since the last call)."""
        with self._lock:
            frame, self._newest = self._newest, None
        return frame

    def stop(self) -> None:
        """Stop and close the connection (returns at once; the thread ends within a read timeout)."""
        self._quit.set()
        ws = self._ws
        if ws is not None:
            try:
                ws.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def run(self) -> None:
        delay = 0.5
        while not self._quit.is_set():
            try:
                self._ws = WebSocket(self.url, self.token)
                self.status = "connected"
                delay = 0.5
                self._session(self._ws)
            except (OSError, ConnectionError, ValueError) as e:
                if self._quit.is_set():
                    break
                self.status = f"disconnected ({e}); retrying"
                log.info("skeletor-live: %s", e)
            finally:
                if self._ws is not None:
                    self._ws.close()
                    self._ws = None
            self._quit.wait(delay)
            delay = min(2 * delay, 5.0)
        self.status = "stopped"

    def _session(self, ws: WebSocket) -> None:
        while not self._quit.is_set():
            try:
                msg = ws.recv()
            except socket.timeout:
                continue
            if isinstance(msg, bytes):
                frame = decode_rig_frame(msg)
            else:
                obj = json.loads(msg)
                kind = obj.get("type")
                if kind == "hello":
                    self.rig = obj.get("rig")
                    if self.rig is None:
                        raise ValueError("this server sends no rig (update skeletor-live)")
                    self.rest_offsets = self.rig["rest_offsets"]
                    ws.send(json.dumps({"type": "subscribe", "format": self.fmt, "fields": ["rotations"]}))
                    continue
                if kind == "rig":
                    self.rest_offsets = obj["rest_offsets"]
                    continue
                if kind == "error":
                    self.status = f"server error {obj.get('code')}: {obj.get('message')}"
                frame = decode_rig_frame(msg) if kind == "frame" else None
            if frame is not None:
                with self._lock:
                    self._newest = frame
                self.frames += 1
                self.status = f"connected: {self.frames} frames"
