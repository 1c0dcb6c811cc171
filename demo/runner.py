"""Running many uvicorn servers in one asyncio loop, each on its own fixed port."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterable, Iterator

import uvicorn
from starlette.types import ASGIApp

from .app import ServiceState, create_app
from .faults import Faults
from .metrics import ServiceMetrics
from .store import Store

log = logging.getLogger("demo")

STOP_TIMEOUT = 1.5  # seconds a server gets to finish in-flight requests before being forced


class _Server(uvicorn.Server):
    """uvicorn.Server that leaves signal handling to us.

    uvicorn's own handler would be installed by every one of the N servers, each
    replacing the previous one, and re-raised on exit; the process handles
    SIGTERM/SIGINT once and stops all servers instead.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def install_signal_handlers(self) -> None:  # the same hook in uvicorn < 0.29
        pass


class ServiceRunner:
    """Serves one ASGI app on one port; can stop and serve again on the same port.

    While stopped the port stays *bound but not listening*: connections are
    refused (like a crashed service) yet no other process can take the port.
    """

    def __init__(self, name: str, app: ASGIApp, host: str, port: int = 0, *, access_log: bool = False) -> None:
        self.name = name
        self.app = app
        self.host = host
        self.access_log = access_log
        self._family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._reserved: socket.socket | None = None
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.port = port
        self._reserve()  # bind now: fails early on a taken port, and resolves port 0

    @property
    def url(self) -> str:
        # A wildcard bind is reached through loopback.
        host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    def _reserve(self) -> None:
        # IPPROTO_TCP, not 0: asyncio switches Nagle off (TCP_NODELAY) only on sockets that say they are TCP, and
        # with Nagle on, every answer on a kept-alive connection waited ~40 ms for the client's delayed ACK.
        sock = socket.socket(self._family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        # REUSEADDR: re-binding right after `down` must not trip over TIME_WAIT
        # connections of the previous listener.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        self._reserved = sock

    async def start(self) -> None:
        """Start listening (no-op if already running); returns once accepting."""
        async with self._lock:
            if self._task is not None:
                return
            if self._reserved is None:
                self._reserve()
            sock, self._reserved = self._reserved, None
            config = uvicorn.Config(
                self.app,
                http="h11",
                ws="none",
                lifespan="off",
                proxy_headers=False,
                log_config=None,  # logging is configured once by the process
                access_log=self.access_log,
                timeout_graceful_shutdown=1,
                # Longer than clients' idle expiry (httpx: 5 s), so the server never
                # closes a pooled connection just as a client reuses it.
                timeout_keep_alive=75,
            )
            server = _Server(config)
            task = asyncio.create_task(server.serve(sockets=[sock]), name=f"serve:{self.name}")
            while not server.started and not task.done():
                await asyncio.sleep(0.005)
            if task.done():
                task.result()  # re-raise the startup failure
                raise RuntimeError(f"{self.name}: server exited during startup")
            self._server, self._task = server, task

    async def stop(self, *, keep_port: bool = True) -> None:
        """Stop listening (no-op if stopped); returns once connections are refused."""
        async with self._lock:
            if self._task is None or self._server is None:
                return
            server, task = self._server, self._task
            server.should_exit = True
            try:
                await asyncio.wait_for(asyncio.shield(task), STOP_TIMEOUT)
            except TimeoutError:
                server.force_exit = True  # skip waiting for stuck connections
                await asyncio.gather(task, return_exceptions=True)
            except Exception:
                log.exception("%s: server failed while stopping", self.name)
            self._server = self._task = None
            if keep_port:
                self._reserve()

    def close(self) -> None:
        """Release the port reservation (after a final stop)."""
        if self._reserved is not None:
            self._reserved.close()
            self._reserved = None


class Service:
    """One named demo service: its state, app and runner."""

    def __init__(
        self,
        name: str,
        host: str,
        port: int,
        *,
        version: str,
        latency: float,
        faults: Iterable[str],
        access_log: bool = False,
        store: Store | None = None,
    ) -> None:
        self.state = ServiceState(
            name=name,
            version=version,
            faults=Faults(faults),
            metrics=ServiceMetrics(name),
            latency=latency,
            store=store or Store(),
        )
        self.runner = ServiceRunner(name, create_app(self.state), host, port, access_log=access_log)

    @property
    def faults(self) -> Faults:
        return self.state.faults

    async def apply_faults(self, modes: Iterable[str]) -> frozenset[str]:
        """Replace the fault modes and bring the port down/up to match `down`."""
        active = self.faults.set(modes)
        if "down" in active:
            await self.runner.stop()
        else:
            await self.runner.start()
        return active

    async def start(self) -> None:
        if "down" not in self.faults:
            await self.runner.start()
