"""A service's traffic as figures: requests, errors and P95 latency over one window, however they were measured.

From Prometheus the figures come ready-made (the probe builds a `Traffic` from its query results). Without one, they
are computed here from two scrapes of the service's own `/metrics`: counter increases with Prometheus's reset rule,
and the P95 from the histogram's bucket increases with Prometheus's own `histogram_quantile` algorithm, so both
sources give the same number for the same series. Pure functions, no I/O.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from deploycheck.kinds.metrics.config import Metrics
from deploycheck.kinds.metrics.exposition import ExpositionError, Sample, Snapshot, parse_matchers

# Relative difference between adjacent cumulative bucket counts that histogram_quantile treats as a floating-point
# artefact and ignores (Prometheus's smallDeltaTolerance, promql/quantile.go).
SMALL_DELTA_TOLERANCE = 1e-12
_MIN_NORMAL = sys.float_info.min  # the smallest positive normal float, as in Prometheus's util/almost


@dataclass(frozen=True)
class Traffic:
    """One window of a service's traffic, however it was measured.

    `source` may hold `"missing": {figure: reason}` for a figure ("requests", "errors", "p95") that could not be
    measured although the rest could (a counter without the status label, ...): the judges quote the reason."""

    requests: float | None  # requests in the window; None when not measurable
    errors: float | None  # of which errors
    p95_s: float | None  # 95th percentile latency in seconds (may be NaN/inf as measured)
    window: str  # human text: "5m ending 2026-11-27T13:00:00Z", "4.0s between two scrapes"
    source: dict[str, Any]  # the queries or scrape URLs behind it (evidence; no secrets)
    elapsed_ms: float = 0.0  # how long gathering took
    problem: str | None = None  # why the figures could not be gathered (Prometheus unreachable, ...), one line
    # The latency histogram over the window, as (upper bound `le`, cumulative count) pairs in order; or the
    # latencies themselves (seconds) when the suite timed the requests: how many were slower than a limit.
    buckets: tuple[tuple[float, float], ...] | None = None
    durations: tuple[float, ...] | None = None


@dataclass(frozen=True)
class Slower:
    """How many of the window's requests took longer than a limit."""

    count: float
    total: float
    how: str  # "counted" (timed by the suite), "bucket edge" (a histogram bound at or near the limit), "interpolated"
    note: str | None = None  # said in the message when the count is an estimate worth knowing about


NEAR_EDGE = 0.05  # a limit within 5 % of a bucket's bound: the interpolation is too small to be worth a note


def slower_than(traffic: Traffic, limit_s: float) -> Slower | None:
    """Requests slower than `limit_s`: counted from the suite's own timings, or read from the histogram, interpolating
    linearly inside the bucket that holds the limit (the lowest bucket starting at 0), as histogram_quantile does."""
    if traffic.durations is not None:
        slow = sum(1 for seconds in traffic.durations if seconds > limit_s)
        return Slower(float(slow), float(len(traffic.durations)), "counted")
    if not traffic.buckets:
        return None
    bounds = [bound for bound, _ in traffic.buckets]
    counts = _monotonic([count for _, count in traffic.buckets])
    if bounds[-1] != math.inf or len(bounds) < 2 or not all(math.isfinite(c) for c in counts):
        return None
    total, finite, ms = counts[-1], bounds[:-1], 1000
    if limit_s > finite[-1]:
        # Nothing tells how the requests above the highest bound spread: all of them count as slow (never a pass
        # on a guess), and the message says so.
        note = f"the highest bucket bound is {finite[-1] * ms:g} ms: every request above it counts as slower"
        return Slower(total - counts[-2], total, "above the highest bucket", note)
    upper = next(i for i, bound in enumerate(bounds) if bound >= limit_s)
    start, below = (bounds[upper - 1], counts[upper - 1]) if upper > 0 else (0.0, 0.0)
    at_or_below = below + (counts[upper] - below) * (limit_s - start) / (bounds[upper] - start)
    if min(abs(bound - limit_s) for bound in finite) <= NEAR_EDGE * limit_s:
        return Slower(total - at_or_below, total, "bucket edge")
    note = f"interpolated between the bucket bounds {start * ms:g} ms and {bounds[upper] * ms:g} ms"
    return Slower(total - at_or_below, total, "interpolated", note)


# ---------------------------------------------------------------------------------------------------------------
# histogram_quantile


def quantile_from_buckets(q: float, buckets: Mapping[float, float]) -> float:
    """The q-quantile of a classic histogram given as upper bound `le` -> cumulative count, computed exactly as
    Prometheus's `histogram_quantile` does (`BucketQuantile` in promql/quantile.go):

    NaN for q NaN, -Inf for q < 0, +Inf for q > 1; NaN without a +Inf bucket, with fewer than two buckets or with no
    observations; the upper bound of the highest finite bucket when the rank falls in the +Inf bucket; the lowest
    bucket's upper bound when the rank falls in it and that bound is <= 0; otherwise linear interpolation inside the
    bucket, the lowest one starting at 0. Counts that are not monotonic are fixed first, as Prometheus does.
    A NaN bound (undefined upstream) gives NaN."""
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    if not buckets or any(math.isnan(bound) for bound in buckets):
        return math.nan
    ordered = sorted(buckets.items())  # a mapping has one entry per bound: nothing to coalesce
    if ordered[-1][0] != math.inf:
        return math.nan
    bounds = [bound for bound, _ in ordered]
    counts = _monotonic([count for _, count in ordered])
    if len(bounds) < 2:
        return math.nan
    observations = counts[-1]
    if observations == 0:
        return math.nan
    rank = q * observations
    last = len(bounds) - 1
    b = _search(last, lambda i: counts[i] >= rank)
    if b == last:
        return bounds[last - 1]
    if b == 0 and bounds[0] <= 0:
        return bounds[0]
    start, end, count = 0.0, bounds[b], counts[b]
    if b > 0:
        start = bounds[b - 1]
        count -= counts[b - 1]
        rank -= counts[b - 1]
    return start + (end - start) * _divide(rank, count)


def _monotonic(counts: list[float]) -> list[float]:
    """Prometheus's ensureMonotonicAndIgnoreSmallDeltas: differences within the float tolerance are ignored in either
    direction, and any decrease is lifted to the count before it (scrape races can make buckets disagree)."""
    fixed = list(counts)
    previous = fixed[0]
    for i in range(1, len(fixed)):
        current = fixed[i]
        if current == previous:
            continue
        if _almost_equal(previous, current, SMALL_DELTA_TOLERANCE) or current < previous:
            fixed[i] = previous  # `previous` stays: the ignored count is not the new reference
            continue
        previous = current
    return fixed


def _almost_equal(a: float, b: float, epsilon: float) -> bool:
    """Prometheus's util/almost.Equal (its stale-marker NaN cannot come out of a scrape)."""
    if math.isnan(a) and math.isnan(b):
        return True
    if a == b:
        return True
    total = abs(a) + abs(b)
    difference = abs(a - b)
    if a == 0 or b == 0 or total < _MIN_NORMAL:
        return difference < epsilon * _MIN_NORMAL
    return difference / min(total, sys.float_info.max) < epsilon


def _search(n: int, found: Callable[[int], bool]) -> int:
    """Go's sort.Search: the smallest i in [0, n) for which `found(i)`, else n. A binary search, like upstream's, so
    that counts which are NaN lead where they lead in Prometheus."""
    low, high = 0, n
    while low < high:
        middle = (low + high) // 2
        if not found(middle):
            low = middle + 1
        else:
            high = middle
    return low


def _divide(numerator: float, denominator: float) -> float:
    """IEEE division, as Go's: x/0 is ±Inf and 0/0 NaN instead of an exception."""
    if denominator != 0:
        return numerator / denominator
    if numerator == 0 or math.isnan(numerator):
        return math.nan
    return math.copysign(math.inf, numerator) * math.copysign(1.0, denominator)


# ---------------------------------------------------------------------------------------------------------------
# Increases between two scrapes


def counter_increase(first: Snapshot, second: Snapshot, name: str, matchers: str = "") -> float:
    """The increase of a counter between two scrapes, summed over its label sets. A series whose value went down was
    reset and counts its second value, as Prometheus's `increase` does; a series new in the second scrape counts from
    0; one gone from the second counts nothing."""
    return math.fsum(increase for _, increase in _increases(first, second, name, matchers))


def histogram_increase(first: Snapshot, second: Snapshot, histogram: str, matchers: str = "") -> dict[float, float]:
    """Per upper bound `le`, the increase of `<histogram>_bucket` summed over its other labels (same reset rule):
    `sum by (le) (increase(<histogram>_bucket{<matchers>}))`. Spellings of one bound (`0.2`, `2e-1`) add up, as
    histogram_quantile coalesces them; a bucket whose `le` is missing or not a number is left out, as Prometheus
    leaves it out."""
    return buckets_by_bound(_increases(first, second, f"{histogram}_bucket", matchers))


def buckets_by_bound(counts: Iterable[tuple[Mapping[str, str], float]]) -> dict[float, float]:
    """(labels, count) of bucket series -> upper bound `le` -> their sum. Spellings of one bound (`0.2`, `2e-1`) add
    up, as histogram_quantile coalesces them; a series whose `le` is missing or not a number is left out."""
    totals: dict[float, float] = {}
    for labels, count in counts:
        bound = parse_bound(labels.get("le"))
        if bound is not None:
            totals[bound] = totals.get(bound, 0.0) + count
    return totals


def _increases(first: Snapshot, second: Snapshot, name: str, matchers: str) -> list[tuple[Mapping[str, str], float]]:
    before = {_series(sample): sample.value for sample in first.select(name, matchers)}
    increases = []
    for sample in second.select(name, matchers):
        previous = before.get(_series(sample), 0.0)
        # Written as Prometheus adds the value before a reset back: a NaN on either side stays NaN.
        increase = sample.value if sample.value < previous else sample.value - previous
        increases.append((sample.labels, increase))
    return increases


def _series(sample: Sample) -> frozenset[tuple[str, str]]:
    return frozenset(sample.labels.items())


def parse_bound(text: str | None) -> float | None:
    """An `le` label as Go's strconv.ParseFloat reads it (Python's float() would also take spaces and '_')."""
    if text is None or text != text.strip() or "_" in text:
        return None
    try:
        bound = float(text)
    except ValueError:
        return None
    return None if math.isnan(bound) else bound


# ---------------------------------------------------------------------------------------------------------------
# Traffic from two scrapes


def traffic_from_scrapes(
    first: Snapshot, second: Snapshot, metrics: Metrics, url: str, *, elapsed_ms: float = 0.0
) -> Traffic:
    """The traffic between two scrapes of a service's `/metrics`: the requests counter's increase over the series the
    selector matches (no selector: all of them); errors, those whose status label matches `metrics.error_status`
    (anchored, as in PromQL); the P95 from the latency histogram's bucket increases."""
    selector = _inner(metrics.selector or "")
    counter, bucket = metrics.requests_counter, f"{metrics.latency_histogram}_bucket"
    error_matcher = f'{metrics.status_label}=~"{_quoted(metrics.error_status)}"'
    errors_selector = ", ".join(part for part in (selector, error_matcher) if part)
    source: dict[str, Any] = {
        "kind": "scrape",
        "url": url,
        "metric": {
            "requests": f"{counter}{{{selector}}}",
            "errors": f"{counter}{{{errors_selector}}}",
            "latency": f"{bucket}{{{selector}}}",
        },
        "selector": selector,
    }
    seconds = second.taken_at - first.taken_at
    window = f"{seconds:.1f}s between two scrapes"
    if not seconds > 0:
        return Traffic(None, None, None, window, source, elapsed_ms, "the second scrape was not taken after the first")
    try:
        exposed = second.select(counter, selector)
        requests: float | None = counter_increase(first, second, counter, selector)
        errors: float | None = counter_increase(first, second, counter, errors_selector)
        buckets = histogram_increase(first, second, metrics.latency_histogram, selector)
    except ExpositionError as error:
        return Traffic(None, None, None, window, source, elapsed_ms, f"metrics.selector: {error}")
    missing = {}
    if not exposed:
        # Nothing to count is not zero requests: the selector matching nothing at all is said as such.
        requests = None
        matched = selector and any(all(m.matches(s.labels) for m in parse_matchers(selector)) for s in second.samples)
        nothing = f"the selector {{{selector}}} matches no series of {url}" if selector and not matched else ""
        missing["requests"] = nothing or f"the service exposes no {counter}{{{selector}}} series"
    elif not any(sample.labels.get(metrics.status_label) for sample in exposed):
        # Without the label every request would look like a success: the error count is unknown, not zero.
        errors = None
        label = metrics.status_label
        missing["errors"] = f"no {counter} series has a {label!r} label (set metrics.status_label)"
    if not buckets:
        missing["p95"] = f"the service exposes no {bucket}{{{selector}}} series"
    if missing:
        source["missing"] = missing
    p95 = quantile_from_buckets(0.95, buckets)
    problem = missing["requests"] if requests is None else None
    ordered = tuple(sorted(buckets.items()))
    return Traffic(requests, errors, p95, window, source, elapsed_ms, problem, buckets=ordered)


def _inner(selector: str) -> str:
    """Label matchers without their braces or a trailing comma, ready to be joined with another matcher."""
    return selector.strip().removeprefix("{").removesuffix("}").strip().rstrip(",").strip()


def _quoted(value: str) -> str:
    """A value inside a PromQL double-quoted string."""
    return value.replace("\\", "\\\\").replace('"', '\\"')
