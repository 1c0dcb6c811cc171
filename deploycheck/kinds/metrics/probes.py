"""The metric probes: a service's traffic now and before the deploy, the alerts that fire, what it uses.

Each is one probe whose evidence is a figure the checks judge (`Traffic`, `Usage`, the firing alerts), gathered
by a composite kind that asks the right source: the environment's Prometheus (several instant queries at once,
at the run's "now" or at the deploy time) or, without one, the service's own `/metrics` scraped twice. Which
source was used, and the queries or URLs behind it, are in the evidence. No judgement here: `rules.py` does.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from deploycheck.config.loader import Environment, Service
from deploycheck.evidence.base import Evidence
from deploycheck.evidence.probe import GatherSettings, Probe
from deploycheck.evidence.registry import register, register_session
from deploycheck.kinds.http.session import (
    HttpRequest,
    HttpSession,
    TlsOptions,
    http_get,
    mask_url_password,
    tls_options,
)
from deploycheck.kinds.metrics.config import HttpApi, Metrics
from deploycheck.kinds.metrics.empty_answers import nothing_matched, scrape_interval, too_early
from deploycheck.kinds.metrics.scrape import ScrapeRequest, ScrapeSession
from deploycheck.kinds.metrics.session import FiringAlert, PromAlertsRequest, PromApiGet, PrometheusSession, PromQuery
from deploycheck.kinds.metrics.traffic import Traffic, buckets_by_bound, quantile_from_buckets, traffic_from_scrapes

DEFAULT_METRICS = Metrics()
SAMPLE_CONCURRENCY = 5  # the suite's own timed requests in flight at once: a light touch on a live service
# Unanswered timed requests in a row after which the rest are not sent: a service that answers none is judged on
# those already (they decide an error rate), not after sample_requests x timeout / concurrency seconds.
UNANSWERED_STOP = 10
NO_HISTORY = (
    "--at replays Prometheus's history; this service's metrics are read from the service itself, which has none"
)
EXPLAIN_ROUNDS = 3  # the queries, then at most two more requests to say why an answer was empty
PROBE_CONCURRENCY = 10  # probe traffic in flight at once: enough for a few hundred requests in a scrape interval
MAX_PROBE_TRAFFIC = 10_000  # the most requests --probe-traffic adds to one service's window
SERIES_SINCE_S = 3600.0  # a selector's series are looked for in the last hour
BATCH_LABEL = "service"  # the label the default selector matches: services asked together are told apart by it
_BATCHABLE = re.compile(r"[A-Za-z0-9_.:-]+")  # names that need no escaping in a PromQL regex


# ---------------------------------------------------------------------------------------------------------------
# Requests of the composite kinds


@dataclass(frozen=True)
class TrafficRequest:
    """One window of a service's traffic: three Prometheus queries, or two scrapes of its /metrics."""

    window: str
    queries: Mapping[str, PromQuery] = field(default_factory=dict)  # buckets, requests, errors
    scrape: ScrapeRequest | None = None
    metrics: Metrics = DEFAULT_METRICS
    timeout_s: float = 10.0  # how long gathering may take in all (the evidence layer's bound)
    problem: str | None = None  # known before asking anything: why this window cannot be measured
    recorded: Traffic | None = None  # figures recorded before the deploy (--baseline FILE): nothing to ask
    recorded_in: str | None = None
    # Services whose series differ only by their `service` label are asked together, in one query per figure
    # (`sum by (service)`): `together` says which requests may share, `member` is this one's label value.
    together: tuple[Any, ...] | None = None
    member: str | None = None
    seconds: float = 0.0
    selector: str = ""  # the label matchers of the queries, to say why an answer was empty
    deployed_at: float | None = None  # the window starts at the deploy (else it is `window_key`'s length)
    window_key: str | None = None
    sample: tuple[HttpRequest, ...] = ()  # requests the suite times itself (source `sample`)
    probe: tuple[HttpRequest, ...] = ()  # requests the suite adds between two scrapes where traffic is thin

    def describe(self) -> dict[str, Any]:
        if self.recorded is not None:
            return {"kind": "baseline-file", "file": self.recorded_in, "recorded": self.recorded.source}
        if self.sample:
            first = self.sample[0].describe()
            return {"kind": "sample", "method": first["method"], "url": first["url"], "requests": len(self.sample)}
        if self.scrape is not None:
            return self.scrape.describe()
        return {"kind": "prometheus", "queries": {name: query.describe() for name, query in self.queries.items()}}


@dataclass(frozen=True)
class Usage:
    """What a service's processes use: CPU in cores over the window, resident memory in bytes."""

    cpu_cores: float | None
    memory_bytes: float | None
    window: str
    source: dict[str, Any]
    problem: str | None = None
    missing: Mapping[str, str] = field(default_factory=dict)  # figure (cpu, memory) -> why it was not measured


@dataclass(frozen=True)
class UsageRequest:
    window: str
    queries: Mapping[str, PromQuery] = field(default_factory=dict)  # cpu, memory
    scrape: ScrapeRequest | None = None
    timeout_s: float = 10.0
    problem: str | None = None  # known before asking anything: why it cannot be measured
    metrics: Mapping[str, str] = field(default_factory=dict)  # cpu, memory -> the metric read
    seconds: float = 0.0
    selector: str = ""
    deployed_at: float | None = None
    window_key: str | None = None

    def describe(self) -> dict[str, Any]:
        if self.scrape is not None:
            return self.scrape.describe()
        return {"kind": "prometheus", "queries": {name: query.describe() for name, query in self.queries.items()}}


@dataclass(frozen=True)
class AlertsAt:
    """The alerts that fired at a past moment (--at): Prometheus's `ALERTS` series then; the alerts APIs only know
    the present."""

    query: PromQuery | None
    problem: str | None = None
    timeout_s: float = 10.0

    def describe(self) -> dict[str, Any]:
        return self.query.describe() if self.query is not None else {"kind": "prometheus", "query": None}


class _Together:
    """The requests of one batch: asked once, for all of them, as soon as the gathering starts."""

    def __init__(self, members: list[TrafficRequest]) -> None:
        self.members = members
        self._asked: asyncio.Future[dict[str, Evidence]] | None = None

    def ask(self, prometheus: PrometheusSession) -> asyncio.Future[dict[str, Evidence]]:
        """Send the batch's queries (once). Their tasks are made here, synchronously, so that asked before the
        other probes start, they take their first step (the request on its way) before those do."""
        if self._asked is None:
            first = self.members[0]
            alternation = "|".join(sorted({member.member or "" for member in self.members}))
            texts = traffic_queries(first.metrics, f'{BATCH_LABEL}=~"{alternation}"', first.seconds, by=BATCH_LABEL)
            asked = {name: asyncio.ensure_future(prometheus.fetch(replace(first.queries[name], query=text)))
                     for name, text in texts.items()}  # fmt: skip
            self._asked = asyncio.ensure_future(_all_of(asked))
        return self._asked

    async def answers(self, prometheus: PrometheusSession) -> dict[str, Evidence]:
        return await asyncio.shield(self.ask(prometheus))


async def _all_of(asked: Mapping[str, asyncio.Future[Evidence]]) -> dict[str, Evidence]:
    return {name: await future for name, future in asked.items()}


class MetricSession:
    """The composite kind: gathers a TrafficRequest or a UsageRequest with the Prometheus and scrape kinds."""

    def prepare(self, requests: list[Any]) -> None:
        """Group the traffic requests that can be asked together (see TrafficRequest.together)."""
        groups: dict[tuple[Any, ...], list[TrafficRequest]] = {}
        for request in requests:
            if isinstance(request, TrafficRequest) and request.together is not None:
                groups.setdefault(request.together, []).append(request)
        self._together = {key: _Together(members) for key, members in groups.items() if len(members) > 1}
        for batch in self._together.values():
            # Asked before any other probe takes its first step: Prometheus evaluates while the health and version
            # probes run here, instead of after them (about 0.1 s at 50 services).
            batch.ask(self._prometheus)

    async def __aenter__(self) -> MetricSession:
        self._together = {}
        self._asked: dict[tuple[str, ...], asyncio.Future[Evidence]] = {}
        self._stack = AsyncExitStack()
        self._prometheus = await self._stack.enter_async_context(PrometheusSession())
        self._scrape = await self._stack.enter_async_context(ScrapeSession())
        self._http = await self._stack.enter_async_context(HttpSession())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    async def fetch(self, request: Any) -> Evidence:
        gather = getattr(request, "gather", None)
        if gather is not None:  # a request that asks Prometheus itself (alert_selectors.AlertSelectorsRequest)
            evidence: Evidence = await gather(self._prometheus)
            return evidence
        if isinstance(request, PromAlertsRequest):
            return await self._prometheus.fetch(request)
        if isinstance(request, AlertsAt):
            return await self._alerts_at(request)
        started = time.perf_counter()
        if isinstance(request, TrafficRequest) and request.recorded is not None:
            recorded = replace(request.recorded, source=request.describe())  # says where the figures come from
            return Evidence(request.describe(), recorded, recorded.problem)
        if isinstance(request, TrafficRequest) and request.problem is not None:
            traffic = Traffic(None, None, None, request.window, request.describe(), 0.0, request.problem)
            return Evidence(request.describe(), traffic, request.problem)
        if isinstance(request, UsageRequest) and request.problem is not None:
            usage = Usage(None, None, request.window, request.describe(), request.problem)
            return Evidence(request.describe(), usage, request.problem)
        batch = self._together.get(getattr(request, "together", None))  # type: ignore[arg-type]
        value: Traffic | Usage
        if isinstance(request, TrafficRequest) and request.sample:
            value = await self._timed(request)
        elif isinstance(request, TrafficRequest) and request.scrape is not None and request.probe:
            sent: list[Evidence] = []
            evidence = await self._scrape.fetch(request.scrape, meanwhile=lambda: self._probe(request, sent))
            value = self._from_scrapes(request, evidence)
            value = replace(value, source={**value.source, "synthetic": _synthetic(request, sent)})
        elif request.scrape is not None:
            evidence = await self._scrape.fetch(request.scrape)
            value = self._from_scrapes(request, evidence)
        elif batch is not None:
            value = self._from_queries(request, await batch.answers(self._prometheus), member=request.member)
            value = await self._explained(request, value, batch)
        else:
            names = list(request.queries)
            asked = await asyncio.gather(*(self._prometheus.fetch(request.queries[name]) for name in names))
            value = self._from_queries(request, dict(zip(names, asked, strict=True)))
            value = await self._explained(request, value, None)
        elapsed = round((time.perf_counter() - started) * 1000, 1)
        return Evidence(request.describe(), value, getattr(value, "problem", None), elapsed)

    async def _explained(self, request: Any, value: Traffic | Usage, batch: _Together | None) -> Traffic | Usage:
        """The value, with the reason an empty answer was empty instead of "no series match <query>"."""
        if isinstance(value, Traffic) and value.requests is None and value.problem == _NO_SERIES:
            why = await self._why_empty(request, request.metrics.requests_counter, batch)
            asked = value.source.get("queries", {}).get("requests", {}).get("query", "")
            return replace(value, problem=why or f"no series match {asked}")
        if isinstance(value, Usage) and value.problem is None:
            missing = {}
            for figure, found in (("cpu", value.cpu_cores), ("memory", value.memory_bytes)):
                if found is None:
                    asked = request.queries[figure].query
                    missing[figure] = await self._why_empty(request, request.metrics[figure], None) or (
                        f"no series match {asked}"
                    )
            return replace(value, missing=missing)
        return value

    async def _why_empty(self, request: Any, metric: str, batch: _Together | None) -> str | None:
        """Why a query matched no series, or None when that cannot be told. Asked only after an empty answer, once
        for a batch: Prometheus's targets (a window shorter than two scrapes is too early), then, when that does not
        explain it, whether the selector matches any series at all."""
        query: PromQuery = next(iter(request.queries.values()))
        targets = await self._ask(_api_get(query, "targets"))
        interval = scrape_interval(targets.value, request.selector) if targets.value is not None else None
        if interval is not None:
            early = too_early(request.seconds, interval, request.deployed_at, request.window_key)
            if early is not None:
                return early
        if not request.selector:
            return None
        if batch is not None:
            members = "|".join(sorted({member.member or "" for member in batch.members}))
            asked = await self._ask(_api_get(query, "label_values", BATCH_LABEL, f'{{{BATCH_LABEL}=~"{members}"}}'))
            names: list[str] | None = None if asked.value is None or request.member in asked.value else []
        else:
            asked = await self._ask(_api_get(query, "label_values", "__name__", "{" + request.selector + "}"))
            names = None if asked.value is None else list(asked.value)
        if asked.value is None:
            return None
        return nothing_matched(request.selector, names, metric, mask_url_password(query.base_url), request.window)

    def _ask(self, request: PromApiGet) -> asyncio.Future[Evidence]:
        """One request of each kind per session: every service's explanation shares it."""
        key = (request.base_url, request.api, request.label, request.match)
        if key not in self._asked:
            self._asked[key] = asyncio.ensure_future(self._prometheus.fetch(request))
        return asyncio.shield(self._asked[key])

    async def _timed(self, request: TrafficRequest) -> Traffic:
        """The suite's own requests, a few at a time: their latencies and how many failed."""
        in_flight = asyncio.Semaphore(SAMPLE_CONCURRENCY)
        unanswered = 0  # in a row

        async def one(http_request: HttpRequest) -> Evidence | None:
            nonlocal unanswered
            async with in_flight:
                if unanswered >= UNANSWERED_STOP:
                    return None  # not sent
                answer = await self._http.fetch(http_request)
            unanswered = unanswered + 1 if answer.value is None else 0
            return answer

        sent = [answer for answer in await asyncio.gather(*map(one, request.sample)) if answer is not None]
        errors = sum(
            1
            for answer in sent
            if answer.value is None or re.fullmatch(request.metrics.error_status, str(answer.value.status))
        )
        latencies = sorted(answer.elapsed_ms / 1000 for answer in sent if answer.value is not None)
        # Nearest rank: the smallest latency that 95 % of the answers do not exceed.
        p95 = latencies[max(math.ceil(0.95 * len(latencies)) - 1, 0)] if latencies else None
        window, source = request.window, request.describe()
        if len(sent) < len(request.sample):
            stopped = f"stopped after {UNANSWERED_STOP} requests in a row got no answer"
            window = f"{len(sent)} of {window} ({stopped})"
            source = {**source, "sent": len(sent), "stopped": stopped}
        return Traffic(float(len(sent)), float(errors), p95, window, source, durations=tuple(latencies))

    async def _alerts_at(self, request: AlertsAt) -> Evidence:
        if request.query is None:
            return Evidence(request.describe(), None, request.problem)
        answer = await self._prometheus.fetch(request.query)
        if answer.value is None:
            return answer
        alerts = tuple(
            FiringAlert(sample.labels.get("alertname", ""), dict(sample.labels), "firing", None)
            for sample in answer.value
        )
        return replace(answer, value=alerts)

    async def _probe(self, request: TrafficRequest, sent: list[Evidence]) -> None:
        """The suite's own GETs, spread evenly between the two scrapes (so the service counts them) and a few at a
        time; none starts after the interval."""
        assert request.scrape is not None
        in_flight = asyncio.Semaphore(PROBE_CONCURRENCY)
        spacing = request.scrape.interval_s * 0.9 / len(request.probe)  # all sent before the second scrape
        started = time.monotonic()

        async def one(index: int, http_request: HttpRequest) -> None:
            await asyncio.sleep(index * spacing)
            async with in_flight:
                if time.monotonic() - started < request.scrape.interval_s:  # type: ignore[union-attr]
                    sent.append(await self._http.fetch(http_request))

        await asyncio.gather(*(one(index, http_request) for index, http_request in enumerate(request.probe)))

    @staticmethod
    def _from_scrapes(request: Any, evidence: Evidence) -> Traffic | Usage:
        source = request.describe()
        if evidence.value is None:
            if isinstance(request, TrafficRequest):
                return Traffic(None, None, None, request.window, source, evidence.elapsed_ms, evidence.error)
            return Usage(None, None, request.window, source, evidence.error)
        first, second = evidence.value
        if isinstance(request, TrafficRequest):
            return traffic_from_scrapes(first, second, request.metrics, source.get("url", ""))
        cpu_metric, memory_metric = request.metrics["cpu"], request.metrics["memory"]
        cpu = [s.value for s in second.select(cpu_metric)]
        cpu_before = [s.value for s in first.select(cpu_metric)]
        memory = [s.value for s in second.select(memory_metric)]
        seconds = max(second.taken_at - first.taken_at, 1e-3)
        cores = (sum(cpu) - sum(cpu_before)) / seconds if cpu and cpu_before else None
        problem = None if cpu or memory else f"no {cpu_metric} or {memory_metric} exposed"
        return Usage(cores, max(memory) if memory else None, request.window, source, problem)

    @staticmethod
    def _from_queries(request: Any, answers: Mapping[str, Evidence], member: str | None = None) -> Traffic | Usage:
        if member is None:
            source = request.describe()
        else:  # what was really asked: the query of all services, and which of its series is this one's
            source = {"kind": "prometheus", "queries": {n: a.source for n, a in answers.items()}, BATCH_LABEL: member}
        problems = [f"{name}: {answer.error}" for name, answer in answers.items() if answer.error]
        problem = problems[0] if problems else None
        values = {name: _single(answer, member) for name, answer in answers.items() if name != "buckets"}
        if isinstance(request, TrafficRequest):
            requests, errors = values.get("requests"), values.get("errors")
            if problem is None and requests is None:
                problem = _NO_SERIES  # said in words by _explained
            if requests is not None and errors is None:
                errors = 0.0  # no series with an error status: none happened
            buckets = _buckets(answers["buckets"], member)
            if buckets:
                p95: float | None = quantile_from_buckets(0.95, buckets)
            else:
                p95 = None
                source = {**source, "missing": {"p95": f"no series match {answers['buckets'].source.get('query')}"}}
            ordered = tuple(sorted(buckets.items())) or None
            return Traffic(requests, errors, p95, request.window, source, 0.0, problem, buckets=ordered)
        return Usage(values.get("cpu"), values.get("memory"), request.window, source, problem)


_NO_SERIES = "no series"


def _api_get(query: PromQuery, api: str, label: str = "__name__", match: str = "") -> PromApiGet:
    """A request of another Prometheus API, to the same server with the same credentials as `query`."""
    start = query.at - SERIES_SINCE_S if query.at is not None else None
    return PromApiGet(query.base_url, api, query.timeout_s, query.headers, query.token, query.basic, query.tls,
                      label, match, start, query.at)  # fmt: skip


def _buckets(evidence: Evidence, member: str | None = None) -> dict[float, float]:
    """The histogram a `sum by (le) (increase(..._bucket[w]))` query answers (for a batch: the member's series):
    upper bound -> cumulative count."""
    mine = (s for s in evidence.value or () if member is None or s.labels.get(BATCH_LABEL) == member)
    return buckets_by_bound((sample.labels, float(sample.value)) for sample in mine)


def _synthetic(request: TrafficRequest, sent: list[Evidence]) -> dict[str, Any]:
    """What the suite's own requests were: the service's figures include them."""
    answered = [evidence for evidence in sent if evidence.value is not None]
    first = request.probe[0].describe()
    return {
        "method": first["method"],
        "url": first["url"],
        "planned": len(request.probe),
        "sent": len(sent),
        "answered": len(answered),
    }


def _single(evidence: Evidence, member: str | None = None) -> float | None:
    """The one number a `sum(...)` query answers (for a batch: the member's series); None when nothing matched."""
    samples = [s for s in evidence.value or () if member is None or s.labels.get(BATCH_LABEL) == member]
    return float(samples[0].value) if samples else None


# ---------------------------------------------------------------------------------------------------------------
# Planning: which source, which queries


def metrics_of(service: Service) -> Metrics:
    return service.metrics or DEFAULT_METRICS


def uses_prometheus(environment: Environment, service: Service) -> bool:
    source = metrics_of(service).source
    return source == "prometheus" or (source == "auto" and environment.prometheus is not None)


def selector(environment: Environment, service: Service) -> str:
    """The service's label matchers: configured, else `service="<name>"` in Prometheus and all of its own /metrics."""
    configured = metrics_of(service).selector
    if configured is not None:
        return configured.strip().removeprefix("{").removesuffix("}")
    return f'service="{service.name}"' if uses_prometheus(environment, service) else ""


def _access(api: HttpApi) -> tuple[str | None, tuple[str, str] | None, TlsOptions]:
    """The bearer token, basic credentials and TLS options of an API, revealed only to be sent."""
    token = api.token.reveal() if api.token is not None else None
    basic = (api.username, api.password.reveal()) if api.username and api.password is not None else None
    tls = TlsOptions(ca_file=str(api.tls.ca_file) if api.tls.ca_file else None, verify=api.tls.verify)
    return token, basic, tls


def prom_query(api: HttpApi, query: str, at: float | None) -> PromQuery:
    token, basic, tls = _access(api)
    return PromQuery(api.url, query, at, api.timeout, dict(api.headers), token, basic, tls)


def traffic_queries(metrics: Metrics, matchers: str, seconds: float, by: str | None = None) -> dict[str, str]:
    """PromQL of one window: the latency histogram's increase per bucket (P95 and the slow-request count are read
    from it here, with histogram_quantile's own algorithm), requests and errors from the counter (per `by` label,
    for several services at once)."""
    window = _range(seconds)
    errors = ",".join(filter(None, [matchers, f'{metrics.status_label}=~"{metrics.error_status}"']))
    bucket = f"{metrics.latency_histogram}_bucket"
    per = f" by ({by})" if by else ""
    buckets_per = f"le, {by}" if by else "le"
    return {
        "buckets": f"sum by ({buckets_per}) (increase({bucket}{{{matchers}}}[{window}]))",
        "requests": f"sum{per} (increase({metrics.requests_counter}{{{matchers}}}[{window}]))",
        "errors": f"sum{per} (increase({metrics.requests_counter}{{{errors}}}[{window}]))",
    }


def _range(seconds: float) -> str:
    """A PromQL range of whole seconds, at least one."""
    return f"{max(math.ceil(seconds), 1)}s"


def window_text(seconds: float, end: float) -> str:
    ending = datetime.fromtimestamp(end, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return f"{_duration(seconds)} ending {ending}"


def _duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    return f"{round(seconds, 1):g}s"  # a window since the deploy: to a tenth of a second


def scrape_request(service: Service) -> ScrapeRequest:
    metrics = metrics_of(service)
    return ScrapeRequest(
        service.url + metrics.path,
        metrics.scrape_interval,
        service.timeout_s,
        dict(service.headers),
        tls_options(service),
    )


def _scrape_bound(service: Service) -> float:
    return metrics_of(service).scrape_interval + 2 * service.timeout_s


def probe_traffic_refused(environment: Environment, service: Service) -> str | None:
    """Why the suite's own requests cannot help this service's metric checks, or None when they can."""
    if service.metrics is None:
        return "the service has no `metrics` section"
    if not environment.allow_probe_traffic:
        return "the environment forbids it (allow_probe_traffic: false)"
    if service.metrics.source == "sample":
        return "`metrics.source: sample` times requests of its own"
    if uses_prometheus(environment, service):
        return "its figures come from Prometheus, which would count them only after its next scrape"
    return None


def plan_traffic(environment: Environment, service: Service | None, settings: GatherSettings) -> TrafficRequest | None:
    """The window since the deploy (or the configured window), ending at the run's "now"."""
    if service is None or service.metrics is None:
        return None
    metrics = metrics_of(service)
    if settings.replay and not uses_prometheus(environment, service):
        return TrafficRequest(f"{_duration(metrics.window)} before --at", problem=NO_HISTORY)
    if metrics.source == "sample":
        window = f"{metrics.sample_requests} requests to {metrics.sample_path}, sent by the suite"
        sample = tuple(http_get(service, metrics.sample_path) for _ in range(metrics.sample_requests))
        bound = service.timeout_s * (metrics.sample_requests / SAMPLE_CONCURRENCY + 1)
        return TrafficRequest(window, metrics=metrics, timeout_s=bound, sample=sample)
    if not uses_prometheus(environment, service):
        window = f"{metrics.scrape_interval:g}s between two scrapes of {metrics.path}"
        extra = settings.probe_traffic if settings.probe_traffic is not None else metrics.probe_traffic or 0
        extra = 0 if probe_traffic_refused(environment, service) else extra
        probe = tuple(http_get(service, metrics.sample_path) for _ in range(min(extra, MAX_PROBE_TRAFFIC)))
        bound = _scrape_bound(service) + (service.timeout_s if probe else 0.0)
        return TrafficRequest(window, scrape=scrape_request(service), metrics=metrics, timeout_s=bound, probe=probe)
    deployed_at = settings.deployed_at
    seconds = _current_seconds(settings, metrics)
    return _prometheus_traffic(environment, service, seconds, settings.now, deployed_at, "metrics.window")


def plan_baseline(environment: Environment, service: Service | None, settings: GatherSettings) -> TrafficRequest | None:
    """The same queries over the baseline window, ending when the rollout began."""
    if service is None or service.metrics is None or service.baseline is None:
        return None
    seconds = service.baseline.window
    recorded = settings.recorded_baseline.get(service.name)
    if recorded is not None:
        return TrafficRequest(recorded.window, recorded=recorded, recorded_in=settings.baseline_file)
    problem = None
    end = settings.deployed_at
    if end is None and settings.replay:  # --at without a deploy time: the window before the one judged
        end = settings.now - metrics_of(service).window
    if settings.baseline_file is not None:
        problem = f"{settings.baseline_file} holds no baseline of {service.name}: record one with --record-baseline"
    elif not uses_prometheus(environment, service):
        problem = "no baseline: without Prometheus history, record one before the deploy (--record-baseline)"
    elif end is None:
        problem = "no deploy time: give --deployed-at (a time, or how long ago, e.g. 10m) to place the baseline"
    if problem is not None:
        return TrafficRequest(f"{_duration(seconds)} before the deploy", problem=problem)
    assert end is not None
    return _prometheus_traffic(environment, service, seconds, end, None, "baseline.window")


def _current_seconds(settings: GatherSettings, metrics: Metrics) -> float:
    """The window judged now: since the deploy when its time is known, else the configured window."""
    return settings.now - settings.deployed_at if settings.deployed_at is not None else metrics.window


def _prometheus_traffic(
    environment: Environment,
    service: Service,
    seconds: float,
    end: float,
    deployed_at: float | None,
    window_key: str,
) -> TrafficRequest:
    """The window's queries; `deployed_at`: the window starts there, else its length is `window_key`'s."""
    api = environment.prometheus
    assert api is not None  # uses_prometheus
    metrics = metrics_of(service)
    matchers = selector(environment, service)
    queries = traffic_queries(metrics, matchers, seconds)
    # With the default selector, the series differ from other services' only by their `service` label.
    together = None
    if metrics.selector is None and _BATCHABLE.fullmatch(service.name):
        shape = (metrics.latency_histogram, metrics.requests_counter, metrics.status_label, metrics.error_status)
        together = (id(api), *shape, seconds, end)
    return TrafficRequest(
        window_text(seconds, end),
        {name: prom_query(api, query, end) for name, query in queries.items()},
        metrics=metrics,
        timeout_s=api.timeout * EXPLAIN_ROUNDS,
        together=together,
        member=service.name,
        seconds=seconds,
        selector=matchers,
        deployed_at=deployed_at,
        window_key=None if deployed_at is not None else window_key,
    )


def plan_usage(environment: Environment, service: Service | None, settings: GatherSettings) -> UsageRequest | None:
    """CPU in cores over the window and resident memory: process metrics of the service's series."""
    if service is None or service.resources is None:
        return None
    metrics = metrics_of(service)
    if settings.replay and not uses_prometheus(environment, service):
        return UsageRequest(f"{_duration(metrics.window)} before --at", problem=NO_HISTORY)
    resources = service.resources
    names = {"cpu": resources.cpu_metric, "memory": resources.memory_metric}
    if not uses_prometheus(environment, service):
        window = f"{metrics.scrape_interval:g}s between two scrapes of {metrics.path}"
        return UsageRequest(window, scrape=scrape_request(service), timeout_s=_scrape_bound(service), metrics=names)
    api = environment.prometheus
    assert api is not None
    configured = resources.selector
    matchers = configured.strip().removeprefix("{").removesuffix("}") if configured else selector(environment, service)
    seconds = _current_seconds(settings, metrics)
    window = _range(seconds)
    # The busiest series: one per process, or per container (the limits are per container).
    queries = {
        "cpu": f"max(rate({names['cpu']}{{{matchers}}}[{window}]))",
        "memory": f"max({names['memory']}{{{matchers}}})",
    }
    requests = {name: prom_query(api, query, settings.now) for name, query in queries.items()}
    return UsageRequest(
        window_text(seconds, settings.now),
        requests,
        timeout_s=api.timeout * EXPLAIN_ROUNDS,
        metrics=names,
        seconds=seconds,
        selector=matchers,
        deployed_at=settings.deployed_at,
        window_key=None if settings.deployed_at is not None else "metrics.window",
    )


def plan_alerts(
    environment: Environment, service: Service | None, settings: GatherSettings
) -> PromAlertsRequest | AlertsAt | None:
    """Every alert that fires now, once for the environment: Alertmanager's view if configured, else Prometheus's."""
    api = environment.alertmanager or environment.prometheus
    if api is None:
        return None
    if settings.replay:
        if environment.prometheus is None:
            return AlertsAt(None, "--at replays Prometheus's history: Alertmanager only knows the alerts firing now")
        query = prom_query(environment.prometheus, 'ALERTS{alertstate="firing"}', settings.now)
        return AlertsAt(query, timeout_s=environment.prometheus.timeout)
    token, basic, tls = _access(api)
    alertmanager = environment.alertmanager is not None
    return PromAlertsRequest(api.url, api.timeout, dict(api.headers), token, basic, tls, alertmanager=alertmanager)


register_session("metrics", MetricSession)
register_session("prometheus", PrometheusSession)  # the composite asks these; a team probe may too
register_session("scrape", ScrapeSession)
register(Probe("traffic", "metrics", "metrics", plan_traffic, also_judges=("slo",)))
register(Probe("baseline_traffic", "metrics", "baseline", plan_baseline))
register(Probe("usage", "metrics", "resources", plan_usage))
register(Probe("firing_alerts", "metrics", "prometheus", plan_alerts, scope="environment", also_judges=("alerts",)))
