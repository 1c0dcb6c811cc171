"""Background user traffic: a service sends itself about N requests per second.

The requests go over real loopback HTTP to the service's own port, so they pass
through the same middleware as anyone else's (latency, faults, metrics) and give
the metric checks something to measure.  Mostly `GET /v1/items`, now and then a
login or an order; never the probes, so health and version are not affected.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import random
from typing import Any
from urllib.parse import urlsplit

from .app import DEMO_USER, ITEMS
from .runner import Service

log = logging.getLogger("demo.traffic")

LOGIN_SHARE = 0.01  # of requests; besides the first login and after a failed one
ORDER_SHARE = 0.04
PENDING_SECONDS = 2.0  # at most this many seconds' worth of requests in flight; beyond, ticks are skipped
TIMEOUT_SECONDS = 10.0
DRAIN_SECONDS = 1.0  # on stop, requests in flight get this long to finish before they are cancelled
KEEP_ORDERS = 20  # the traffic's own orders kept in the service; older ones are forgotten

# What a failed request can raise: refused/reset (OSError), closed early, garbled, too slow.
REQUEST_ERRORS = (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, TimeoutError)

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class Traffic:
    """An asyncio task sending `rps` requests per second to one service, started and stopped with the process."""

    def __init__(self, service: Service, rps: int) -> None:
        self.service = service
        self.rps = rps
        self.max_pending = max(4, int(rps * PENDING_SECONDS))
        self._client = LoopbackClient(service.runner.url)
        self._task: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self._token: str | None = None
        self._orders: collections.deque[str] = collections.deque()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"traffic:{self.service.state.name}")

    async def stop(self) -> None:
        """Stop the schedule, let requests in flight finish (briefly), then close the connections.

        Finishing rather than cancelling: a client vanishing mid-request is an
        error the service would have to record.
        """
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._pending:
            await asyncio.wait(self._pending, timeout=DRAIN_SECONDS)
        pending = list(self._pending)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        self._client.close()

    async def _run(self) -> None:
        """Fire one request per tick without waiting for it, so a slow service still gets `rps`."""
        loop = asyncio.get_running_loop()
        interval = 1 / self.rps
        due = loop.time() + random.uniform(0, interval)  # services out of step, not all at once
        while True:
            # Jitter around a fixed schedule: irregular like users, yet exactly `rps` on average.
            await asyncio.sleep(max(0.0, due + random.uniform(-0.5, 0.5) * interval - loop.time()))
            due = max(due + interval, loop.time() - 1)  # after a stall, don't fire a burst to catch up
            if "down" in self.service.faults or len(self._pending) >= self.max_pending:
                continue
            task = asyncio.create_task(self._request())
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _request(self) -> None:
        """One user action; failures are what the faults are for, so they are only logged at debug level."""
        roll = random.random()
        try:
            if self._token is None or roll < LOGIN_SHARE:
                await self._login()
            elif roll < LOGIN_SHARE + ORDER_SHARE:
                await self._order(self._token)
            else:
                await self._client.request("GET", "/v1/items")
        except REQUEST_ERRORS as exc:
            log.debug("%s: traffic request failed: %r", self.service.state.name, exc)

    async def _login(self) -> None:
        username, password = DEMO_USER
        status, body = await self._client.request(
            "POST", "/v1/auth/login", {"username": username, "password": password}
        )
        if status == 200:
            # Drop the previous session, like a logout, so tokens don't pile up over a long run.
            if self._token is not None:
                self.service.state.store.drop_token(self._token)
            self._token = json.loads(body)["token"]

    async def _order(self, token: str) -> None:
        item = random.choice(ITEMS)
        order = {"items": [{"sku": item["sku"], "qty": random.randint(1, 3), "price": item["price"]}]}
        status, body = await self._client.request("POST", "/v1/orders", order, token=token)
        if status == 201:
            self._orders.append(json.loads(body)["id"])
            # Forget our old orders, so the demo's memory stays flat during an hour's watch.
            while len(self._orders) > KEEP_ORDERS:
                self.service.state.store.delete_order(self._orders.popleft())


class LoopbackClient:
    """Just enough HTTP/1.1 for our own server: keep-alive connections, Content-Length bodies.

    Not httpx: at a few hundred requests per second its per-request overhead was
    three quarters of the demo's CPU; this keeps the traffic cheap.
    """

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port, self.netloc = parts.hostname or "127.0.0.1", parts.port or 80, parts.netloc
        self._idle: list[Connection] = []

    async def request(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, token: str | None = None
    ) -> tuple[int, bytes]:
        """Send one request; (status, body).  Raises one of REQUEST_ERRORS if it fails."""
        reader, writer = await self._connection()
        try:
            async with asyncio.timeout(TIMEOUT_SECONDS):
                writer.write(self._encode(method, path, body, token))
                status, length, keep_alive = _parse_head(await reader.readuntil(b"\r\n\r\n"))
                data = await reader.readexactly(length)
        except BaseException:  # including cancellation: a half-used connection can't be reused
            writer.close()
            raise
        if keep_alive:
            self._idle.append((reader, writer))
        else:
            writer.close()
        return status, data

    def close(self) -> None:
        while self._idle:
            self._idle.pop()[1].close()

    async def _connection(self) -> Connection:
        """An idle connection the server hasn't closed meanwhile (it does when stopping for `down`), or a new one."""
        while self._idle:
            reader, writer = self._idle.pop()
            if not reader.at_eof():
                return reader, writer
            writer.close()
        return await asyncio.open_connection(self.host, self.port)

    def _encode(self, method: str, path: str, body: dict[str, Any] | None, token: str | None) -> bytes:
        payload = json.dumps(body).encode() if body is not None else b""
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.netloc}\r\nContent-Length: {len(payload)}\r\n"
        if body is not None:
            head += "Content-Type: application/json\r\n"
        if token is not None:
            head += f"Authorization: Bearer {token}\r\n"
        return (head + "\r\n").encode() + payload


def _parse_head(head: bytes) -> tuple[int, int, bool]:
    """(status, content length, keep-alive) from a response's status line and headers."""
    status_line, *lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split(" ", 2)[1])
    headers = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    if "content-length" not in headers:
        raise ValueError("response without Content-Length")
    return status, int(headers["content-length"]), headers.get("connection", "").lower() != "close"
