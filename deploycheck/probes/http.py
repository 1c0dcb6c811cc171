"""HTTP evidence: many requests at once on one asyncio loop, each with its own timeout and optional wait-until.

`fetch_all` is the bulk path (all probes of a run gathered together, so a run waits about as long as its slowest
request rather than the sum of all of them); `fetch` is the one-off path for evidence gathered on the spot.
"""

from __future__ import annotations

import asyncio
import functools
import json
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import certifi
import httpx

BODY_LIMIT = 2000  # characters of a body kept as evidence
# Requests in flight at once: enough for every probe of 50 services, and below the point where one httpx client's
# connection pool, not the servers, becomes the bottleneck (hundreds in flight).
MAX_IN_FLIGHT = 100
RETRY_INTERVAL_S = 1.0


@dataclass(frozen=True)
class HttpRequest:
    method: str
    url: str
    timeout_s: float
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """The request as evidence (headers are left out: they may carry credentials)."""
        return {"kind": "http", "method": self.method, "url": self.url, "timeout_s": self.timeout_s}


@dataclass(frozen=True)
class HttpResult:
    request: HttpRequest
    status: int | None  # None when no answer came
    body: str = ""
    json: Any = None
    elapsed_ms: float = 0.0
    error: str | None = None  # why no answer came: refused, timed out, TLS, ...
    attempts: int = 1

    @property
    def answered(self) -> bool:
        return self.status is not None


@dataclass(frozen=True)
class FetchJob:
    """A request, and optionally a condition to wait for by retrying until `wait_s` has passed."""

    request: HttpRequest
    until: Callable[[HttpResult], bool] | None = None
    wait_s: float = 0.0


def fetch_all(jobs: Sequence[FetchJob]) -> list[HttpResult]:
    """Run every job concurrently; results in the order of `jobs`. Never raises for a failed request."""
    if not jobs:
        return []
    return asyncio.run(_fetch_all(jobs))


def fetch(request: HttpRequest) -> HttpResult:
    return fetch_all([FetchJob(request)])[0]


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Loading the CA bundle costs tens of milliseconds: once per process, not once per client.
    return ssl.create_default_context(cafile=certifi.where())


async def _fetch_all(jobs: Sequence[FetchJob]) -> list[HttpResult]:
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(limits=limits, follow_redirects=False, verify=_tls_context()) as client:
        in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)
        return list(await asyncio.gather(*(_run_job(client, in_flight, job) for job in jobs)))


async def _run_job(client: httpx.AsyncClient, in_flight: asyncio.Semaphore, job: FetchJob) -> HttpResult:
    deadline = time.monotonic() + job.wait_s
    attempts = 0
    while True:
        attempts += 1
        async with in_flight:
            result = await _send(client, job.request)
        done = job.until is None or job.until(result)
        if done or time.monotonic() + RETRY_INTERVAL_S > deadline:
            return HttpResult(**{**result.__dict__, "attempts": attempts})
        await asyncio.sleep(RETRY_INTERVAL_S)


async def _send(client: httpx.AsyncClient, request: HttpRequest) -> HttpResult:
    started = time.perf_counter()

    def elapsed() -> float:
        return round((time.perf_counter() - started) * 1000, 1)

    try:
        response = await client.request(
            request.method,
            request.url,
            json=request.json,
            headers=dict(request.headers),
            timeout=request.timeout_s,
        )
    except httpx.TimeoutException as error:
        kind = type(error).__name__
        return HttpResult(
            request, None, elapsed_ms=elapsed(), error=f"no answer within {request.timeout_s:g}s ({kind})"
        )
    except (httpx.HTTPError, httpx.InvalidURL, OSError) as error:
        return HttpResult(request, None, elapsed_ms=elapsed(), error=f"{type(error).__name__}: {error}")
    text = response.text
    return HttpResult(
        request,
        response.status_code,
        body=text[:BODY_LIMIT],
        json=_parse_json(text),
        elapsed_ms=elapsed(),
    )


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None
