"""HTTP evidence: one hardened request per probe, many at once on one asyncio loop, none able to hang or flood a run.

`HttpSession.fetch` turns an `HttpRequest` into `Evidence` and never raises (except on cancellation):

- `timeout_s` bounds the whole request (connect, TLS, sending, headers and body), not each read;
- the body is kept up to `MAX_BODY_BYTES`; beyond that reading stops (`truncated`) and it is never parsed;
- whatever goes wrong is one line in plain words (the evidence's `error`):

    connection refused                          nothing listens on that port
    connection reset by peer                    the server dropped the connection (RST)
    cannot resolve host <host>                  DNS
    TLS: <reason>                               e.g. "TLS: certificate verify failed: self-signed certificate"
    invalid URL: <why>                          and "invalid request: ..." / "invalid timeout: ...": not sent
    no answer within <t>s (<where>)             connecting / TLS handshake / sending the request /
                                                waiting for the response headers / reading the body after 1.2 KB
    the server closed the connection ...        without answering, or in the middle of the body
    invalid HTTP answer: <why>                  the answer is not HTTP/1.1 (h11's reason)
    <the exception's own message>               anything else, with header values and passwords masked

Design: each fetch is one HTTP/1.1 exchange on its own asyncio connection (h11 for the protocol, `Connection:
close`), with no connection pool. A probe sends one request per service and endpoint, so a pool has nothing to
reuse, while httpx/httpcore's pool costs about 1 ms of CPU per request and is quadratic with hundreds in flight
(issue 6: 32x a raw-socket floor at 200 services); this path stays within 2x of that floor. What is trusted is the
suite's one TLS rule (`deploycheck.tls`). Redirects are never followed: a redirect is evidence. Proxy variables
(HTTP_PROXY, ...) are not used: probes go straight to the service. A URL's `user:password@` is sent as Basic auth,
built by `deploycheck.secrets.basic_credentials`, whose result the run's redactor masks.
"""

from __future__ import annotations

import asyncio
import codecs
import errno
import json
import math
import os
import re
import socket
import ssl
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import unquote

import h11
import httpx

from deploycheck import tls
from deploycheck.config.environment import Service
from deploycheck.evidence.base import Evidence
from deploycheck.secrets import Redactor, basic_credentials
from deploycheck.text import cut
from deploycheck.tls import TlsFileError, TlsOptions, ssl_context, ssl_reason

MAX_BODY_BYTES = 1024 * 1024  # far above any real health or version body, far below a flood
MAX_HEAD_BYTES = 64 * 1024  # status line and headers
MAX_IN_FLIGHT = 100  # requests on the wire at once, per session
READ_BYTES = 64 * 1024
MAX_ERROR_CHARS = 300
MASK = "***"
USER_AGENT = "deploycheck"


# ---------------------------------------------------------------------------------------------------------------
# What is asked and what comes back


@dataclass(frozen=True, repr=False)
class HttpRequest:
    method: str
    url: str
    timeout_s: float
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    tls: TlsOptions = field(default_factory=TlsOptions)

    def describe(self) -> dict[str, Any]:
        """The request as evidence: header names but never their values, the URL without its password, and for
        https the TLS options that decide what is trusted."""
        described: dict[str, Any] = {
            "kind": "http",
            "method": self.method,
            "url": mask_url_password(self.url),
            "timeout_s": self.timeout_s,
            "headers": sorted(self.headers),
        }
        if self.url.lower().startswith("https:"):
            described["tls"] = {"verify": self.tls.verify, "ca_file": self.tls.ca_file, "cert_file": self.tls.cert_file}
        return described

    def __repr__(self) -> str:
        # pytest -l prints locals: header values, a URL password or a JSON body (a login) must not show.
        headers = {name: MASK for name in self.headers}
        body = "None" if self.json is None else f"<{type(self.json).__name__}>"
        return (
            f"HttpRequest(method={self.method!r}, url={mask_url_password(self.url)!r}, timeout_s={self.timeout_s!r}, "
            f"json={body}, headers={headers!r}, tls={self.tls!r})"
        )


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: str  # at most MAX_BODY_BYTES of it, decoded with errors="replace"
    json: Any  # the body parsed as JSON; None when it is not JSON or was truncated
    headers: Mapping[str, str]  # lower-case names, repeated headers joined with ", ", no set-cookie
    truncated: bool  # the body was longer than MAX_BODY_BYTES and reading stopped there
    size: int  # bytes received, or announced by Content-Length when that is larger


def mask_url_password(url: str) -> str:
    """`scheme://user:***@host/...`; a URL without a password unchanged."""
    parts = _split_password(url)
    return url if parts is None else parts[0] + MASK + parts[2]


def _split_password(url: str) -> tuple[str, str, str] | None:
    """(what comes before the password, the password, what follows it), or None without a password."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        return None
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    userinfo, at, _ = rest[:end].rpartition("@")
    if not at or ":" not in userinfo:
        return None
    user, password = userinfo.split(":", 1)
    head = f"{scheme}://{user}:"
    return head, password, url[len(head) + len(password) :]


# ---------------------------------------------------------------------------------------------------------------
# The session


class HttpSession:
    """One per gathering: bounds how many of its many concurrent fetches are on the wire at once."""

    def __init__(self, max_in_flight: int = MAX_IN_FLIGHT) -> None:
        self._in_flight = asyncio.Semaphore(max_in_flight)

    async def __aenter__(self) -> HttpSession:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        return None  # every exchange closes its own connection, whatever happens to it

    async def fetch(self, request: HttpRequest) -> Evidence:
        """The request's evidence: an HttpResponse as value, or an error in one line. Never raises."""
        async with self._in_flight:  # the clock starts once the request may go out, not while it queues
            started = time.perf_counter()
            exchange = _Exchange(request)
            response: HttpResponse | None = None
            error: str | None = None
            try:
                async with asyncio.timeout(_checked_timeout(request.timeout_s)):
                    response = await exchange.run()
            except TimeoutError:
                error = f"no answer within {request.timeout_s:g}s ({exchange.where()})"
            except Exception as exc:  # a probe reports what broke, it never breaks the gathering
                error = describe_error(exc, request)
            elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
        return Evidence(request.describe(), value=response, error=error, elapsed_ms=elapsed_ms)


def fetch_all(requests: Sequence[HttpRequest]) -> list[Evidence]:
    """Every request at once in one session; evidence in the order of `requests`. Not for use inside a loop."""
    if not requests:
        return []
    return asyncio.run(_fetch_all(requests))


async def _fetch_all(requests: Sequence[HttpRequest]) -> list[Evidence]:
    async with HttpSession() as session:
        return list(await asyncio.gather(*(session.fetch(request) for request in requests)))


# ---------------------------------------------------------------------------------------------------------------
# One exchange


class ProbeFailure(Exception):
    """A failure already put in plain words (reported as evidence, never raised out of `fetch`)."""


_READING_BODY = "reading the body"


@dataclass(frozen=True)
class _Target:
    secure: bool
    host: str  # to connect to and to check the certificate against (IDNA, IPv6 without brackets)
    port: int
    authority: str  # the Host header
    path: bytes  # path and query, percent-encoded
    credentials: tuple[str, str] | None  # user:password from the URL, sent as Basic auth


class _Exchange:
    """One request on its own connection; knows where it is, for the message when the deadline passes."""

    def __init__(self, request: HttpRequest) -> None:
        self.request = request
        self.phase = "connecting"
        self.body_bytes = 0

    def where(self) -> str:
        if self.phase == _READING_BODY:
            return f"{_READING_BODY} after {format_size(self.body_bytes)}"
        return self.phase

    async def run(self) -> HttpResponse:
        target = _parse_url(self.request.url)
        body = b"" if self.request.json is None else json.dumps(self.request.json, separators=(",", ":")).encode()
        protocol = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_BYTES)
        request = h11.Request(
            method=self.request.method, target=target.path, headers=_request_headers(self.request, target, body)
        )
        context = ssl_context(self.request.tls) if target.secure else None  # a bad CA file: no traffic at all
        writer: asyncio.StreamWriter | None = None
        try:
            reader, writer = await asyncio.open_connection(target.host, target.port)
            if context is not None:
                self.phase = "TLS handshake"
                await writer.start_tls(context, server_hostname=target.host)
            self.phase = "sending the request"
            messages = [request, h11.Data(data=body), h11.EndOfMessage()] if body else [request, h11.EndOfMessage()]
            writer.write(b"".join(protocol.send(message) or b"" for message in messages))
            await writer.drain()
            return await self._receive(reader, protocol)
        finally:
            if writer is not None:
                writer.transport.abort()  # at once, unread data and all: a flood stops here

    async def _receive(self, reader: asyncio.StreamReader, protocol: h11.Connection) -> HttpResponse:
        self.phase = "waiting for the response headers"
        event = await self._next_event(reader, protocol)
        while isinstance(event, h11.InformationalResponse):  # 100 Continue and the like
            event = await self._next_event(reader, protocol)
        if not isinstance(event, h11.Response):
            raise ProbeFailure("the server closed the connection without answering")
        self.phase = _READING_BODY
        body, received = await self._read_body(reader, protocol)
        return _response(event, body, received)

    async def _read_body(self, reader: asyncio.StreamReader, protocol: h11.Connection) -> tuple[bytes, int]:
        """(at most MAX_BODY_BYTES of the body, bytes received); stops reading once past the cap."""
        kept: list[bytes] = []
        kept_bytes = received = 0
        while received <= MAX_BODY_BYTES:
            event = await self._next_event(reader, protocol)
            if not isinstance(event, h11.Data):
                break  # EndOfMessage, or ConnectionClosed for a body that ends with the connection
            received += len(event.data)
            self.body_bytes = received
            if kept_bytes < MAX_BODY_BYTES:
                kept.append(bytes(event.data[: MAX_BODY_BYTES - kept_bytes]))
                kept_bytes += len(kept[-1])
        return b"".join(kept), received

    async def _next_event(self, reader: asyncio.StreamReader, protocol: h11.Connection) -> Any:
        while True:
            try:
                event = protocol.next_event()
            except h11.RemoteProtocolError as exc:
                raise self._protocol_failure(exc) from None
            if event is not h11.NEED_DATA:
                return event
            data = await reader.read(READ_BYTES)
            if not data and self.phase != _READING_BODY:
                raise ProbeFailure("the server closed the connection without answering")
            protocol.receive_data(data)  # b"": the end, which h11 judges (the end of a close-delimited body)

    def _protocol_failure(self, exc: h11.RemoteProtocolError) -> ProbeFailure:
        if self.phase == _READING_BODY and "peer closed" in str(exc):
            size = format_size(self.body_bytes)
            return ProbeFailure(f"the server closed the connection in the middle of the body (after {size})")
        return ProbeFailure(f"invalid HTTP answer: {exc}")


def _response(head: h11.Response, body: bytes, received: int) -> HttpResponse:
    headers: dict[str, str] = {}
    for name, value in head.headers:
        key, text = name.decode("latin-1"), value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    headers.pop("set-cookie", None)  # a session for whoever reads the evidence; nothing a check needs
    truncated = received > MAX_BODY_BYTES
    text = body.decode(_charset(headers.get("content-type", "")), errors="replace")
    return HttpResponse(
        status=head.status_code,
        body=text,
        json=None if truncated else _parse_json(text),
        headers=headers,
        truncated=truncated,
        size=max(received, _announced_length(headers)),
    )


def _request_headers(request: HttpRequest, target: _Target, body: bytes) -> list[tuple[bytes, bytes]]:
    """Defaults, then the request's own headers (which win, case-insensitively), then the body's length."""
    headers = {
        "host": ("Host", target.authority),
        "user-agent": ("User-Agent", USER_AGENT),
        "accept": ("Accept", "*/*"),
        # identity: a compressed answer could inflate far beyond what arrived (a small gzip holds gigabytes).
        "accept-encoding": ("Accept-Encoding", "identity"),
        "connection": ("Connection", "close"),
    }
    if target.credentials is not None:
        headers["authorization"] = ("Authorization", "Basic " + basic_credentials(*target.credentials))
    if request.json is not None:
        headers["content-type"] = ("Content-Type", "application/json")
    headers.update({name.lower(): (name, value) for name, value in request.headers.items()})
    headers["content-length"] = ("Content-Length", str(len(body)))
    return [(name.encode("latin-1"), value.encode("utf-8")) for name, value in headers.values()]


def _charset(content_type: str) -> str:
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            try:
                return codecs.lookup(value.strip().strip('"')).name
            except LookupError:
                break
    return "utf-8"


def _announced_length(headers: Mapping[str, str]) -> int:
    value = headers.get("content-length", "")
    return int(value) if value.isdigit() and len(value) < 20 else 0


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: "[[[[...": deep nesting is an answer, not a crash
        return None


def format_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024 / 1024:.1f} MB"


# ---------------------------------------------------------------------------------------------------------------
# Building the request: URL, timeout, TLS


def _parse_url(text: str) -> _Target:
    if any(c.isspace() for c in text):
        raise ProbeFailure("invalid URL: it contains white space")
    try:
        url = httpx.URL(text)  # parses, percent-encodes and IDNA-encodes as browsers do
    except httpx.InvalidURL as exc:
        raise ProbeFailure(f"invalid URL: {exc}") from None
    if url.scheme not in ("http", "https"):
        raise ProbeFailure("invalid URL: it must start with http:// or https://")
    if not url.raw_host:
        raise ProbeFailure("invalid URL: no host")
    if url.port is not None and not 0 < url.port < 65536:
        raise ProbeFailure(f"invalid URL: port {url.port} is out of range")
    secure = url.scheme == "https"
    return _Target(
        secure=secure,
        host=url.raw_host.decode("ascii"),
        port=url.port or (443 if secure else 80),
        authority=url.netloc.decode("ascii"),
        path=url.raw_path,
        credentials=(url.username, url.password) if url.username or url.password else None,
    )


def _checked_timeout(timeout_s: float) -> float:
    if not (isinstance(timeout_s, int | float) and math.isfinite(timeout_s) and timeout_s > 0):
        raise ProbeFailure(f"invalid timeout: {timeout_s!r} (a positive number of seconds)")
    return float(timeout_s)


# ---------------------------------------------------------------------------------------------------------------
# Errors in plain words

_ERRNO_WORDS = {errno.ECONNREFUSED: "connection refused", errno.ECONNRESET: "connection reset by peer"}
_ERRNO_IN_TEXT = re.compile(r"\[Errno (\d+)\]")
_BYTES_LITERAL = re.compile(r"""b(['"]).*?(?<!\\)\1""")  # h11 quotes offending bytes, header values included


def describe_error(exc: BaseException, request: HttpRequest) -> str:
    """One line in plain words, with the request's header values and URL password masked."""
    return _one_line(_mask(_plain_words(exc, request), request))


def _plain_words(exc: BaseException, request: HttpRequest) -> str:
    if isinstance(exc, ProbeFailure | TlsFileError):
        return str(exc)
    if isinstance(exc, h11.LocalProtocolError):
        return f"invalid request: {exc}"
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLError):
            return f"TLS: {ssl_reason(cause)}"
        if isinstance(cause, socket.gaierror):
            return f"cannot resolve host {_host_of(request.url)}"
        if isinstance(cause, OSError):
            number = cause.errno if cause.errno is not None else _common_errno(str(cause))
            if number is not None:
                return _ERRNO_WORDS.get(number) or _lower_first(os.strerror(number))
    return str(exc) or type(exc).__name__


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception, then what caused it, breadth first."""
    queue, seen = [exc], set[int]()
    while queue and len(seen) < 32:
        current = queue.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        queue += [e for e in (current.__cause__, current.__context__) if e is not None]
        if isinstance(current, BaseExceptionGroup):
            queue += list(current.exceptions)


def _common_errno(text: str) -> int | None:
    # asyncio joins the errors of every address it tried ("Multiple exceptions: [Errno 111] ..., [Errno 111] ...").
    numbers = set(_ERRNO_IN_TEXT.findall(text))
    return int(numbers.pop()) if len(numbers) == 1 else None


def _host_of(url: str) -> str:
    try:
        return httpx.URL(url).host
    except httpx.InvalidURL:
        return "?"


def _mask(text: str, request: HttpRequest) -> str:
    """The request's own credentials masked in every form (header values, the URL's password and its Basic auth)."""
    text = _BYTES_LITERAL.sub(f"b'{MASK}'", text)
    redact = Redactor(list(request.headers.values()))
    parts = _split_password(request.url)
    if parts and parts[1]:
        redact.add(parts[1])
        redact.add_basic(unquote(parts[0].partition("://")[2][:-1]), unquote(parts[1]))  # as sent: decoded
    return redact(text)


def _one_line(text: str) -> str:
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return cut(" ".join(line.split()), MAX_ERROR_CHARS)


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


# ---------------------------------------------------------------------------------------------------------------
# The request every kind sends a service over HTTP (the shared transport: the metrics kind's scrapes use it too)


def tls_options(service: Service) -> TlsOptions:
    return tls.options(service.tls)


def http_get(service: Service, path: str) -> HttpRequest:
    return HttpRequest(
        "GET", service.url + path, service.timeout_s, headers=dict(service.headers), tls=tls_options(service)
    )
