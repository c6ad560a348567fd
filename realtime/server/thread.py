"""A :class:`~realtime.server.app.PoseServer` on its own event loop in a background thread,
for synchronous callers (the pipeline, tests, benchmarks)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from realtime.server.app import PoseServer
from realtime.server.config import ServerConfig
from skeletor.protocol import PoseFrame, StatusEvent

__all__ = ["ServerThread"]


class ServerThread:
    """A :class:`PoseServer` on its own event loop in a background thread.

    For synchronous callers (a pipeline loop, tests): ``start()`` returns once the server
    listens; ``publish`` / ``publish_status`` go straight to the server (they are
    thread-safe); ``stop()`` closes clients with 1001 and joins the thread.
    """

    def __init__(self, config: ServerConfig = ServerConfig(), **kwargs: Any) -> None:
        """Prepare the server; nothing runs until :meth:`start`.

        Args:
            config: settings, as for :class:`PoseServer`.
            **kwargs: ``skeleton``, ``fps`` and ``rig``, as for :class:`PoseServer`.
        """
        self.server = PoseServer(config, **kwargs)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self, timeout: float = 10.0) -> ServerThread:
        """Start the thread and wait until the server listens.

        Args:
            timeout: seconds to wait.

        Returns:
            ``self``.

        Raises:
            RuntimeError: the server did not come up (the cause is chained).
        """
        self._thread = threading.Thread(target=self._run, name="pose-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout) or self._error is not None:
            raise RuntimeError("the pose server did not start") from self._error
        return self

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            try:
                await self.server.start()
            except BaseException as e:
                self._error = e
                self._ready.set()
                return
            self._ready.set()
            try:
                await self._stop.wait()
            finally:
                await self.server.stop()

        asyncio.run(main())

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (clients get 1001) and join the thread."""
        if self._loop is not None and self._stop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port."""
        return self.server.port

    @property
    def url(self) -> str:
        """The stream's websocket URL."""
        return self.server.url

    @property
    def http_url(self) -> str:
        """The viewer's URL."""
        return self.server.http_url

    def publish(self, frame: PoseFrame) -> None:
        """Same as :meth:`PoseServer.publish`."""
        self.server.publish(frame)

    def publish_status(self, event: StatusEvent | str, message: str | None = None, **details: Any) -> None:
        """Same as :meth:`PoseServer.publish_status`."""
        self.server.publish_status(event, message, **details)

    def publish_rig(self, rig_version: int, rest_offsets: Any) -> None:
        """Same as :meth:`PoseServer.publish_rig`."""
        self.server.publish_rig(rig_version, rest_offsets)

    def call(self, fn: Any, timeout: float = 5.0) -> Any:
        """Run ``fn()`` on the server's loop and return its result (e.g. ``server.client_stats``)."""
        if self._loop is None:
            raise RuntimeError("not started")

        async def wrapper() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(wrapper(), self._loop).result(timeout)
