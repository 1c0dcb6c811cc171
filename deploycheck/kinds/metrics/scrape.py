"""Scrape evidence: a service's own /metrics, read twice `interval_s` apart, for when no Prometheus is at hand.

`ScrapeSession.fetch` turns a `ScrapeRequest` into `Evidence` whose value is `(first, second)`, two
`deploycheck.kinds.metrics.exposition.Snapshot`s, and never raises (except on cancellation). Each GET goes through
the HTTP transport (`HttpSession`), so its hardening holds: the whole request bounded by `timeout_s`, the body
capped, errors in plain words. What goes wrong is one line:

    scrape of <url>: connection refused              any error of the HTTP kind, in its words
    scrape of <url>: answered 404                    anything but 200
    scrape of <url>: not the Prometheus text format: <why>
    scrape of <url>: the page is larger than 1.0 MB  the HTTP kind's cap; a truncated page is never parsed
    second scrape of <url>: ...                      the same, for the second scrape

A fetch takes up to `interval_s + 2 * timeout_s` (`deadline_s`): the second scrape starts `interval_s` after the
first answer arrived, so the snapshots' `taken_at` are at least `interval_s` apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

from deploycheck.evidence.base import Evidence
from deploycheck.kinds.http.session import (
    MASK,
    MAX_BODY_BYTES,
    HttpRequest,
    HttpSession,
    ProbeFailure,
    TlsOptions,
    format_size,
    mask_url_password,
)

if TYPE_CHECKING:
    from deploycheck.kinds.metrics.exposition import Snapshot

# What Prometheus itself asks for when it scrapes in the text format (not OpenMetrics).
ACCEPT = "text/plain;version=0.0.4;q=1,*/*;q=0.1"


@dataclass(frozen=True, repr=False)
class ScrapeRequest:
    url: str  # the metrics page itself, e.g. http://orders:8080/metrics
    interval_s: float
    timeout_s: float  # for each of the two scrapes
    headers: Mapping[str, str] = field(default_factory=dict)
    tls: TlsOptions = field(default_factory=TlsOptions)

    @property
    def deadline_s(self) -> float:
        """The longest a fetch of this request can take: both scrapes and the interval between them."""
        return self.interval_s + 2 * self.timeout_s

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "scrape",
            "url": mask_url_password(self.url),
            "interval_s": self.interval_s,
            "timeout_s": self.timeout_s,
        }

    def __repr__(self) -> str:
        # pytest -l prints locals: header values or a URL password must not show.
        headers = {name: MASK for name in self.headers}
        return (
            f"ScrapeRequest(url={mask_url_password(self.url)!r}, interval_s={self.interval_s!r}, "
            f"timeout_s={self.timeout_s!r}, headers={headers!r}, tls={self.tls!r})"
        )


class ScrapeSession:
    """One per gathering; its GETs share one `HttpSession` (and its bound on requests in flight)."""

    def __init__(self) -> None:
        self._http = HttpSession()

    async def __aenter__(self) -> ScrapeSession:
        await self._http.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self._http.__aexit__(exc_type, exc, traceback)

    async def fetch(self, request: ScrapeRequest, meanwhile: Callable[[], Awaitable[object]] | None = None) -> Evidence:
        """Two snapshots `interval_s` apart as value, or an error in one line. Never raises. `meanwhile` runs between
        the two scrapes (the suite's own requests, when it tops up thin traffic); the second scrape waits for it, up
        to one more timeout."""
        started = time.perf_counter()
        value: tuple[Snapshot, Snapshot] | None = None
        error: str | None = None
        url = mask_url_password(request.url)
        try:
            _check_interval(request.interval_s)
            first = await self._scrape(request, f"scrape of {url}")
            if meanwhile is None:
                await asyncio.sleep(request.interval_s)
            else:
                between = asyncio.gather(asyncio.sleep(request.interval_s), meanwhile())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(between, request.interval_s + request.timeout_s)
            second = await self._scrape(request, f"second scrape of {url}")
            value = (first, second)
        except ProbeFailure as failure:
            error = str(failure)
        elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
        return Evidence(request.describe(), value=value, error=error, elapsed_ms=elapsed_ms)

    async def _scrape(self, request: ScrapeRequest, which: str) -> Snapshot:
        # Imported here: prometheus_client's parser is paid for only by runs that scrape.
        from deploycheck.kinds.metrics.exposition import ExpositionError, parse_exposition

        headers = {"Accept": ACCEPT, **request.headers}  # the request's own headers win, as in the HTTP kind
        get = HttpRequest("GET", request.url, request.timeout_s, headers=headers, tls=request.tls)
        evidence = await self._http.fetch(get)
        taken_at = time.time()
        response = evidence.value
        if evidence.error is not None or response is None:
            raise ProbeFailure(f"{which}: {evidence.error}")
        if response.status != 200:
            raise ProbeFailure(f"{which}: answered {response.status}")
        if response.truncated:
            raise ProbeFailure(f"{which}: the page is larger than {format_size(MAX_BODY_BYTES)}")
        try:
            return parse_exposition(response.body, taken_at)
        except ExpositionError as exc:
            raise ProbeFailure(f"{which}: {exc}") from None


def _check_interval(interval_s: float) -> None:
    if not (isinstance(interval_s, int | float) and math.isfinite(interval_s) and interval_s >= 0):
        raise ProbeFailure(f"invalid interval: {interval_s!r} (a number of seconds, 0 or more)")
