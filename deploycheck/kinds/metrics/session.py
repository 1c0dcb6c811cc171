"""Prometheus evidence: instant PromQL queries and the alerts that fire, through prometheus-api-client.

`PrometheusSession.fetch` turns a `PromQuery`, a `PromAlertsRequest` or a `PromApiGet` into `Evidence` and never
raises (except on cancellation). The value of a query is a tuple of `PromSample` (empty when nothing matched: that
is data, not an error; a scalar is one sample without labels; NaN and ±Inf stay floats); the value of an alerts
request is a tuple of `FiringAlert`, only those firing (Prometheus) or active (Alertmanager: neither silenced nor
inhibited; with `every`, all it holds); of a `PromApiGet`, a tuple of `AlertRule` (rules), `Target` (targets) or
label values (strings).

Whatever goes wrong is one line, `Prometheus at <url>: <what>`, with any password in the URL masked:

    connection refused                          and the HTTP kind's other words: cannot resolve host, TLS: <reason>
    no answer within <t>s                       `timeout_s` bounds the whole call, not each read
    answered 400: bad_data: <its error>         Prometheus's own errorType and error
    answered 401 (check the token)              or "check the user and password", or "it wants credentials ..."
    answered 302, a redirect to <where> ...     redirects are never followed: give the URL they point to
    not a Prometheus API answer: <why>          not JSON, no data.result, a value that is not a number, too large

Design: the client is synchronous (requests), so each call runs in a thread of its own. It is a daemon thread
rather than `asyncio.to_thread`: `asyncio.run` joins the default executor when the loop closes, so a call past its
deadline would hold up the run; this way it is abandoned, never waited on. One client (and one requests session
with its connection pool) per URL, credentials and TLS options, reused by every query of the session. Proxy
variables and ~/.netrc are not used, as in the HTTP kind. requests and the client are imported on the first fetch,
so a run that needs no Prometheus never pays for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from deploycheck import tls
from deploycheck.evidence.base import Evidence
from deploycheck.kinds.http.session import (
    MASK,
    HttpRequest,
    ProbeFailure,
    TlsOptions,
    describe_error,
    mask_url_password,
)
from deploycheck.secrets import Redactor
from deploycheck.text import cut

if TYPE_CHECKING:
    import requests
    from prometheus_api_client import PrometheusConnect

MAX_IN_FLIGHT = 10  # calls at once per session: the size of requests' connection pool per host
MAX_ANSWER_BYTES = 16 * 1024 * 1024  # far above a query's or an alert list's answer, far below a flood
READ_BYTES = 64 * 1024
MAX_ERROR_CHARS = 300
T = TypeVar("T")


# ---------------------------------------------------------------------------------------------------------------
# What is asked and what comes back


@dataclass(frozen=True, repr=False)
class PromQuery:
    """An instant PromQL query, at `at` (unix seconds) or now."""

    base_url: str
    query: str
    at: float | None
    timeout_s: float
    headers: Mapping[str, str] = field(default_factory=dict)
    token: str | None = None  # sent as `Authorization: Bearer <token>`
    basic: tuple[str, str] | None = None  # (user, password)
    tls: TlsOptions = field(default_factory=TlsOptions)

    @property
    def deadline_s(self) -> float:
        """The longest a fetch of this request can take."""
        return self.timeout_s

    def describe(self) -> dict[str, Any]:
        """The query as evidence: never a header value, a token or a password."""
        return {
            "kind": "prometheus",
            "url": mask_url_password(self.base_url),
            "query": self.query,
            "time": _iso(self.at),
            "timeout_s": self.timeout_s,
        }

    def __repr__(self) -> str:
        # pytest -l prints locals: a token, a password or a header value must not show.
        return f"PromQuery(query={self.query!r}, at={self.at!r}, {_connection_repr(self)})"


@dataclass(frozen=True, repr=False)
class PromAlertsRequest:
    """The alerts that fire now: Prometheus's /api/v1/alerts, or Alertmanager's /api/v2/alerts."""

    base_url: str
    timeout_s: float
    headers: Mapping[str, str] = field(default_factory=dict)
    token: str | None = None
    basic: tuple[str, str] | None = None
    tls: TlsOptions = field(default_factory=TlsOptions)
    alertmanager: bool = False
    every: bool = False  # Alertmanager: also the silenced, inhibited and unprocessed alerts

    @property
    def path(self) -> str:
        return "/api/v2/alerts" if self.alertmanager else "/api/v1/alerts"

    @property
    def deadline_s(self) -> float:
        return self.timeout_s

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "alertmanager" if self.alertmanager else "prometheus",  # the source the alerts were read from
            "url": mask_url_password(self.base_url.rstrip("/") + self.path),
            "alerts": "active, neither silenced nor inhibited" if self.alertmanager else "firing",
            "timeout_s": self.timeout_s,
        }

    def __repr__(self) -> str:
        return f"PromAlertsRequest(alertmanager={self.alertmanager!r}, {_connection_repr(self)})"


@dataclass(frozen=True, repr=False)
class PromApiGet:
    """A read of one of Prometheus's other APIs: `rules` (its alerting rules), `targets` (what it scrapes, and how
    often), or `label_values` (the values of `label` among the series that `match` selects since `start`)."""

    base_url: str
    api: str  # rules, targets, label_values
    timeout_s: float
    headers: Mapping[str, str] = field(default_factory=dict)
    token: str | None = None
    basic: tuple[str, str] | None = None
    tls: TlsOptions = field(default_factory=TlsOptions)
    label: str = "__name__"
    match: str = ""
    start: float | None = None
    end: float | None = None

    @property
    def path(self) -> str:
        paths = {"rules": "/api/v1/rules", "targets": "/api/v1/targets"}
        return paths.get(self.api) or f"/api/v1/label/{self.label}/values"

    @property
    def params(self) -> dict[str, str]:
        if self.api == "rules":
            return {"type": "alert"}
        if self.api == "targets":
            return {"state": "active"}
        times = {name: repr(float(at)) for name, at in (("start", self.start), ("end", self.end)) if at is not None}
        return {"match[]": self.match, **times}

    @property
    def deadline_s(self) -> float:
        return self.timeout_s

    def describe(self) -> dict[str, Any]:
        asked = {"match": self.match, "since": _iso(self.start)} if self.api == "label_values" else {}
        return {
            "kind": "prometheus",
            "url": mask_url_password(self.base_url.rstrip("/") + self.path),
            **asked,
            "timeout_s": self.timeout_s,
        }

    def __repr__(self) -> str:
        return f"PromApiGet(api={self.api!r}, match={self.match!r}, {_connection_repr(self)})"


PrometheusRequest = PromQuery | PromAlertsRequest | PromApiGet


@dataclass(frozen=True)
class PromSample:
    labels: Mapping[str, str]
    value: float  # NaN and ±Inf kept as floats: judging them is the checks' business


@dataclass(frozen=True)
class AlertRule:
    """An alerting rule as /api/v1/rules shows it: its own labels, and the labels of its pending or firing alerts
    (each is the rule's labels over the labels of one series of its expression)."""

    name: str
    labels: Mapping[str, str]
    state: str  # inactive, pending, firing
    alerts: tuple[Mapping[str, str], ...] = ()


@dataclass(frozen=True)
class Target:
    """A target Prometheus scrapes: its labels and how often."""

    labels: Mapping[str, str]
    interval_s: float | None


@dataclass(frozen=True)
class FiringAlert:
    name: str  # the alertname label
    labels: Mapping[str, str]
    state: str  # "firing" (Prometheus) or "active" (Alertmanager)
    active_since: str | None  # ISO time, as the server wrote it


def _iso(at: float | None) -> str | None:
    if at is None or not math.isfinite(at):
        return None if at is None else repr(at)
    moment = datetime.fromtimestamp(at, UTC)
    return moment.isoformat(timespec="seconds" if at == int(at) else "milliseconds").replace("+00:00", "Z")


def _connection_repr(request: PrometheusRequest) -> str:
    headers = {name: MASK for name in request.headers}
    token = None if request.token is None else MASK
    basic = None if request.basic is None else (request.basic[0], MASK)
    return (
        f"base_url={mask_url_password(request.base_url)!r}, timeout_s={request.timeout_s!r}, headers={headers!r}, "
        f"token={token!r}, basic={basic!r}, tls={request.tls!r}"
    )


# ---------------------------------------------------------------------------------------------------------------
# The session


class PrometheusSession:
    """One per gathering: one client per (URL, credentials, TLS), and at most `max_in_flight` calls at once."""

    def __init__(self, max_in_flight: int = MAX_IN_FLIGHT) -> None:
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self._clients: dict[tuple[Any, ...], _Client] = {}

    async def __aenter__(self) -> PrometheusSession:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        for client in self._clients.values():
            client.session.close()  # a call still running in an abandoned thread just fails there
        self._clients.clear()

    async def fetch(self, request: PrometheusRequest) -> Evidence:
        """The request's evidence: samples or firing alerts as value, or an error in one line. Never raises."""
        async with self._in_flight:
            started = time.perf_counter()
            value: tuple[Any, ...] | None = None
            error: str | None = None
            try:
                call = self._call(request)  # checks the request and builds the client here, before any thread
                async with asyncio.timeout(request.timeout_s):
                    value = await _in_thread(call)
            except TimeoutError:
                error = f"no answer within {request.timeout_s:g}s"
            except Exception as exc:  # a probe reports what broke, it never breaks the gathering
                error = _plain_words(exc, request)
            elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
        if error is not None:
            error = _one_line(_mask(f"Prometheus at {mask_url_password(request.base_url)}: {error}", request))
        return Evidence(request.describe(), value=value, error=error, elapsed_ms=elapsed_ms)

    def _call(self, request: PrometheusRequest) -> Callable[[], tuple[Any, ...]]:
        _check(request)
        client = self._client(request)
        if isinstance(request, PromQuery):
            return lambda: _query(client, request)
        if isinstance(request, PromApiGet):
            return lambda: _api_get(client, request)
        return lambda: _alerts(client, request)

    def _client(self, request: PrometheusRequest) -> _Client:
        key = (request.base_url, tuple(sorted(request.headers.items())), request.token, request.basic, request.tls)
        if key not in self._clients:
            self._clients[key] = _connect(request)
        return self._clients[key]


async def _in_thread(call: Callable[[], T]) -> T:
    """`call()` in a daemon thread of its own; if the caller stops waiting, the thread is left to end by itself."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, exc: BaseException | None) -> None:
        if future.done():  # the deadline passed: nobody waits for it any more
            return
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        result: T | None = None
        error: BaseException | None = None
        try:
            result = call()
        except BaseException as exc:  # handed to the waiting coroutine, which decides
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop is closed: the run went on without this call
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=run, name="deploycheck-prometheus", daemon=True).start()
    return await future


def _check(request: PrometheusRequest) -> None:
    timeout = request.timeout_s
    if not (isinstance(timeout, int | float) and math.isfinite(timeout) and timeout > 0):
        raise ProbeFailure(f"invalid timeout: {timeout!r} (a positive number of seconds)")
    scheme, separator, rest = request.base_url.partition("://")
    if not separator or scheme.lower() not in ("http", "https") or not rest.strip("/"):
        raise ProbeFailure("invalid URL: it must start with http:// or https:// and name a host")
    if isinstance(request, PromQuery) and request.at is not None and not math.isfinite(request.at):
        raise ProbeFailure(f"invalid time: {request.at!r}")


# ---------------------------------------------------------------------------------------------------------------
# The client and its calls (in a worker thread from here on)


@dataclass(frozen=True)
class _Client:
    connect: PrometheusConnect
    session: requests.Session


class _Answered(Exception):
    """The server answered, but not 200: raised from the response hook, before the client reads the answer."""

    def __init__(self, status: int, body: str, location: str) -> None:
        super().__init__(f"answered {status}")
        self.status, self.body, self.location = status, body, location


class _NotPrometheus(Exception):
    """A 200 answer that is not what the Prometheus (or Alertmanager) API sends."""


def _connect(request: PrometheusRequest) -> _Client:
    # Imported here: requests and the client cost ~0.1 s of start-up, paid only by runs that query Prometheus.
    import requests
    from prometheus_api_client import PrometheusConnect
    from urllib3.util.retry import Retry

    tls.ssl_context(request.tls)  # a CA file it cannot use is said in the words of every other client
    session = requests.Session()
    session.trust_env = False  # as the HTTP kind: no proxy variables, no ~/.netrc credentials
    session.verify = tls.requests_verify(request.tls)
    if request.tls.cert_file:
        session.cert = (request.tls.cert_file, request.tls.key_file) if request.tls.key_file else request.tls.cert_file
    if not request.tls.verify:
        _quiet_insecure_warning()
    session.hooks["response"].append(_checked_answer)
    headers = dict(request.headers)
    if request.token is not None:
        headers["Authorization"] = f"Bearer {request.token}"
    connect = PrometheusConnect(
        url=request.base_url.rstrip("/"),
        headers=headers,
        auth=request.basic,
        retry=Retry(total=0, read=False),  # one attempt: retrying is the store's business (--wait-ready)
        session=session,
        timeout=request.timeout_s,
    )
    return _Client(connect, session)


def _quiet_insecure_warning() -> None:
    # verify: false is the configuration's explicit choice, recorded as such; a warning per request adds nothing.
    import warnings

    from urllib3.exceptions import InsecureRequestWarning

    warnings.filterwarnings("ignore", category=InsecureRequestWarning)


def _checked_answer(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    """requests' response hook: reads at most MAX_ANSWER_BYTES of the body, and raises `_Answered` unless 200.

    It runs before requests reads the body and before the client looks at the status, so a flood stops here and
    a redirect is never followed."""
    announced = response.headers.get("content-length", "")
    if announced.isdigit() and int(announced) > MAX_ANSWER_BYTES:
        response.close()
        raise _NotPrometheus(f"the answer is larger than {MAX_ANSWER_BYTES // (1024 * 1024)} MB")
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(READ_BYTES):
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            response.close()
            raise _NotPrometheus(f"the answer is larger than {MAX_ANSWER_BYTES // (1024 * 1024)} MB")
        chunks.append(chunk)
    response._content = b"".join(chunks)  # what requests would have read itself, now bounded
    if response.status_code != 200:
        raise _Answered(response.status_code, response.text, response.headers.get("location", ""))


def _query(client: _Client, request: PromQuery) -> tuple[PromSample, ...]:
    # Prometheus stops evaluating at the same deadline (its `timeout` parameter, in seconds).
    params = {"timeout": f"{request.timeout_s:g}"}
    if request.at is not None:
        params["time"] = repr(float(request.at))
    try:
        result = client.connect.custom_query(request.query, params=params, timeout=request.timeout_s)
    except (ValueError, RecursionError):  # requests' JSONDecodeError is a ValueError
        raise _NotPrometheus("the body is not JSON") from None
    except (KeyError, TypeError):
        raise _NotPrometheus("no data.result in it") from None
    return _samples(result)


def _samples(result: Any) -> tuple[PromSample, ...]:
    """data.result of an instant query: a vector (a list of series), or a scalar ([time, "value"])."""
    if isinstance(result, list) and len(result) == 2 and isinstance(result[0], int | float):
        try:
            return (PromSample({}, float(result[1])),)
        except (TypeError, ValueError):  # a string result has the same shape
            raise ProbeFailure(f"the query returns {str(result[1])[:40]!r}, not a number") from None
    if not isinstance(result, list):
        raise _NotPrometheus("data.result is neither a vector nor a scalar")
    return tuple(_sample(series) for series in result)


def _sample(series: Any) -> PromSample:
    if not isinstance(series, dict) or not isinstance(series.get("metric"), dict):
        raise _NotPrometheus("a series without its labels")
    if "values" in series:
        raise ProbeFailure("the query returns a range vector; ask for an instant one (e.g. rate(x[5m]), not x[5m])")
    value = series.get("value")
    if not (isinstance(value, list) and len(value) == 2):
        raise _NotPrometheus("a series without a value")
    return PromSample({str(name): str(label) for name, label in series["metric"].items()}, _number(value[1]))


def _number(text: Any) -> float:
    try:
        return float(text)  # Prometheus writes "NaN", "+Inf", "-Inf", which float() reads
    except (TypeError, ValueError):
        raise _NotPrometheus(f"{str(text)[:40]!r} is not a number") from None


def _alerts(client: _Client, request: PromAlertsRequest) -> tuple[FiringAlert, ...]:
    # Alertmanager filters for us; its client-side check below stays, in case a proxy drops the parameters.
    only_active = request.alertmanager and not request.every
    params = {"active": "true", "silenced": "false", "inhibited": "false"} if only_active else {}
    response = client.session.get(
        client.connect.url + request.path,
        params=params,
        headers=client.connect.headers,
        auth=client.connect.auth,
        timeout=request.timeout_s,
    )
    try:
        body = json.loads(response.content)
    except (ValueError, RecursionError):
        raise _NotPrometheus("the body is not JSON") from None
    try:
        if request.alertmanager:
            wanted = ("active", "suppressed", "unprocessed") if request.every else ("active",)
            return tuple(_alertmanager_alert(alert) for alert in body if alert["status"]["state"] in wanted)
        return tuple(_prometheus_alert(alert) for alert in body["data"]["alerts"] if alert["state"] == "firing")
    except (KeyError, TypeError, AttributeError):
        where = "a list of alerts with labels and status" if request.alertmanager else "data.alerts"
        raise _NotPrometheus(f"no {where} in it") from None


def _api_get(client: _Client, request: PromApiGet) -> tuple[Any, ...]:
    response = client.session.get(
        client.connect.url + request.path,
        params=request.params,
        headers=client.connect.headers,
        auth=client.connect.auth,
        timeout=request.timeout_s,
    )
    try:
        data = json.loads(response.content)["data"]
        if request.api == "rules":
            return tuple(
                _rule(rule) for group in data["groups"] for rule in group["rules"] if rule["type"] == "alerting"
            )
        if request.api == "targets":
            return tuple(
                Target(_labels(target["labels"]), _seconds(target.get("scrapeInterval")))
                for target in data["activeTargets"]
            )
        if not isinstance(data, list):
            raise TypeError
        return tuple(str(value) for value in data)
    except (ValueError, RecursionError):
        raise _NotPrometheus("the body is not JSON") from None
    except (KeyError, TypeError, AttributeError):
        raise _NotPrometheus(f"no {request.api.replace('_', ' ')} in it") from None


def _rule(rule: dict[str, Any]) -> AlertRule:
    alerts = tuple(_labels(alert["labels"]) for alert in rule.get("alerts") or ())
    return AlertRule(str(rule["name"]), _labels(rule.get("labels") or {}), str(rule.get("state", "")), alerts)


def _labels(labels: dict[str, Any]) -> dict[str, str]:
    return {str(name): str(value) for name, value in labels.items()}


def _seconds(duration: Any) -> float | None:
    """A Prometheus duration (`15s`, `1m30s`, `500ms`) in seconds; None when it is not one."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    parts = re.findall(r"(\d+)(ms|s|m|h|d|w|y)", str(duration or ""))
    if not parts or "".join(number + unit for number, unit in parts) != str(duration):
        return None
    return float(sum(int(number) * units[unit] for number, unit in parts))


def _prometheus_alert(alert: dict[str, Any]) -> FiringAlert:
    labels = {str(name): str(value) for name, value in alert["labels"].items()}
    return FiringAlert(labels.get("alertname", ""), labels, alert["state"], alert.get("activeAt"))


def _alertmanager_alert(alert: dict[str, Any]) -> FiringAlert:
    labels = {str(name): str(value) for name, value in alert["labels"].items()}
    return FiringAlert(labels.get("alertname", ""), labels, alert["status"]["state"], alert.get("startsAt"))


# ---------------------------------------------------------------------------------------------------------------
# Errors in plain words


def _plain_words(exc: BaseException, request: PrometheusRequest) -> str:
    if isinstance(exc, _Answered):
        return _answered(exc, request)
    if isinstance(exc, _NotPrometheus):
        return f"not a Prometheus API answer: {exc}"
    if isinstance(exc, ProbeFailure):
        return str(exc)
    import requests  # imported by then: anything else came from a call through the client

    if isinstance(exc, requests.Timeout):  # one read or the connection outlasted timeout_s
        return f"no answer within {request.timeout_s:g}s"
    # connection refused, cannot resolve host, TLS: ... in the HTTP kind's words, its header values masked
    return describe_error(exc, HttpRequest("GET", request.base_url, request.timeout_s, headers=request.headers))


def _answered(answer: _Answered, request: PrometheusRequest) -> str:
    status = answer.status
    if status == 401:
        return f"answered 401 ({_credentials_hint(request)})"
    if status == 403:
        return "answered 403 (the credentials are not allowed to read this)"
    if 300 <= status < 400:
        return f"answered {status}, a redirect to {answer.location or '?'} (redirects are not followed: use that URL)"
    try:
        body = json.loads(answer.body)
    except (ValueError, RecursionError):
        body = None
    if isinstance(body, dict) and body.get("error"):
        return f"answered {status}: {body.get('errorType') or 'error'}: {body['error']}"
    first_line = next((line.strip() for line in answer.body.splitlines() if line.strip()), "")
    return f"answered {status}: {cut(first_line, 200)}" if first_line else f"answered {status}"


def _credentials_hint(request: PrometheusRequest) -> str:
    if request.token is not None:
        return "check the token"
    if request.basic is not None:
        return "check the user and password"
    return "it wants credentials: a token or basic auth"


def _mask(text: str, request: PrometheusRequest) -> str:
    """The request's own credentials masked in every form (header values, the token, basic auth as sent)."""
    redact = Redactor([*request.headers.values(), *([request.token] if request.token else [])])
    if request.basic is not None:
        redact.add_basic(*request.basic)
    return redact(text)


def _one_line(text: str) -> str:
    return cut(" ".join(next((line for line in text.splitlines() if line.strip()), "").split()), MAX_ERROR_CHARS)
