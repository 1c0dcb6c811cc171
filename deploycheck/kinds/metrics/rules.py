"""Pure judgement of the metric checks: traffic, alerts and usage figures + a rule -> Finding. No I/O here.

Every rule needs finite evidence to pass: a problem gathering it, a figure that is None, NaN or infinite make the
finding inconclusive, with the reason in its message. Latency and error rates are judged by what their counts show
at a confidence (`confidence.py`, the rules in docs/judgement.md), not by the point estimate: thin evidence neither
passes nor fails, and each finding carries its counts, interval and the rule that decided in `statistics`. The
check id is left empty: the caller's `verify` fills it in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from deploycheck.findings import Finding, Outcome
from deploycheck.kinds.metrics.confidence import Count, difference, requests_needed
from deploycheck.kinds.metrics.traffic import Traffic, slower_than
from deploycheck.text import cut, one_line

DEFAULT_ERROR_RATE_FLOOR = 0.0001  # 0.01 %: rises of the error rate up to this are noise, never a regression
MESSAGE_CHARS = 600  # a message listing alerts is cut here
LABEL_CHARS = 80  # a label value quoted in a message
OBSERVED_LABEL_CHARS = 300  # a label value kept in the verdict
LABELS_SHOWN = 4  # labels of an alert quoted in the message (all of them are in `observed`)


# ---------------------------------------------------------------------------------------------------------------
# Latency and error rate against the SLO: what the counts show, at a confidence (docs/judgement.md)


@dataclass(frozen=True)
class Proof:
    """How much evidence a rule asks for: the confidence of its bounds, the fewest bad requests that can fail it
    (one stray 5xx never rolls back), and an optional floor on the requests of a window."""

    confidence: float = 0.95
    min_failures: int = 3
    min_requests: int = 0


QUANTILE = 0.95  # "P95 <= L" is "at most 5 % of the requests are slower than L"
SLOW_SHARE = round(1 - QUANTILE, 9)


def latency(current: Traffic, limit_ms: float, proof: Proof = Proof()) -> Finding:
    """`latency.p95`: at most 5 % of the window's requests were slower than `limit_ms`, shown by the count of slow
    requests at `proof.confidence`. The interpolated P95 stays in the finding as the readable figure."""
    p95 = _p95_ms(current)
    values = {"observed": p95, "limit": limit_ms, "unit": "ms"}
    reason = _unmeasured(current, proof.min_requests, "p95")
    if reason is not None:
        shown = f" (P95 {_ms(p95)}, limit {_ms(limit_ms)})" if p95 is not None and current.problem is None else ""
        return _traffic_finding(current, Outcome.INCONCLUSIVE, reason + shown, **values)
    slower = slower_than(current, limit_ms / 1000)
    head = f"P95 {_ms(p95)} over {current.window}, limit {_ms(limit_ms)}"
    if slower is None:
        why = "no latency histogram to count the requests slower than the limit"
        return _traffic_finding(current, Outcome.INCONCLUSIVE, f"{head}: {why}", **values)
    count = Count.of(round(slower.count), round(slower.total), proof.confidence)
    what = f"{_count(count, 'request', current)} slower than {_ms(limit_ms)}"
    outcome, said, statistics = _share_rule(count, SLOW_SHARE, proof, what, f"{_percent(SLOW_SHARE)} may be")
    note = f" ({slower.note})" if slower.note else ""
    statistics.update(counted=slower.how, quantile=QUANTILE)
    return _traffic_finding(current, outcome, f"{head}: {said}{note}", statistics=statistics, **values)


def error_rate(current: Traffic, limit: float, proof: Proof = Proof()) -> Finding:
    """`errors.rate`: the share of requests that failed over the window is at most `limit` (a ratio, 0..1), shown by
    the count of errors at `proof.confidence`."""
    rate = _rate(current)
    values = {"observed": rate, "limit": limit, "unit": "ratio"}
    reason = _unmeasured(current, proof.min_requests, "errors")
    if reason is not None:
        measured = rate is not None and current.problem is None
        shown = f" (error rate {_percent(rate)}, limit {_percent(limit)})" if measured else ""
        return _traffic_finding(current, Outcome.INCONCLUSIVE, reason + shown, **values)
    count = _errors_count(current, proof)
    what = f"{_count(count, 'error', current)} over {current.window}"
    outcome, said, statistics = _share_rule(count, limit, proof, what)
    return _traffic_finding(current, outcome, f"error rate {_percent(rate)}: {said}", statistics=statistics, **values)


def _share_rule(
    count: Count, limit: float, proof: Proof, what: str, allowed: str = ""
) -> tuple[Outcome, str, dict[str, Any]]:
    """FAIL when even the lower bound of the share is over `limit` and there are enough bad requests to count;
    PASS when its upper bound is within it; else INCONCLUSIVE, saying how many requests would settle it."""
    sure = f"at {_number(proof.confidence * 100)} % confidence"
    allowed = allowed or f"limit {_percent(limit)}"
    statistics: dict[str, Any] = _statistics(count, limit)
    if count.lower > limit:
        if count.bad >= proof.min_failures:
            statistics["rule"] = "lower bound over the limit"
            said = f"{what}, at least {_percent(count.lower)} {sure}, {allowed}"
            return Outcome.FAILED, said, statistics
        statistics["rule"] = f"fewer than {proof.min_failures} bad requests never fail"
        said = (
            f"{what} would break the {_percent(limit)} limit, but fewer than {proof.min_failures} never fail "
            "(one stray failure is no proof)"
        )
        return Outcome.INCONCLUSIVE, said, statistics
    if count.upper <= limit:
        statistics["rule"] = "upper bound within the limit"
        said = f"{what}, at most {_percent(count.upper)} {sure}, {allowed}"
        return Outcome.PASSED, said, statistics
    needed = requests_needed(count.bad, limit, proof.confidence)
    statistics.update(rule="interval holds the limit", needed=needed)
    more = f" (needs ≈ {_rounded(needed)}{' with no more' if count.bad else ''})" if needed else ""
    return Outcome.INCONCLUSIVE, f"{what}: cannot show ≤ {_percent(limit)} yet{more}", statistics


def _statistics(count: Count, limit: float) -> dict[str, Any]:
    return {
        "bad": count.bad,
        "requests": count.total,
        "interval": [_significant(count.lower, 4), _significant(count.upper, 4)],
        "confidence": count.confidence,
        "limit_share": limit,
    }


def _errors_count(traffic: Traffic, proof: Proof) -> Count:
    assert traffic.requests is not None and traffic.errors is not None  # _unmeasured checked them
    return Count.of(round(traffic.errors), round(traffic.requests), proof.confidence)


def _count(count: Count, noun: str, traffic: Traffic) -> str:
    """`12 of 1,000 requests` (slower ones) or `0 errors in 120 requests`, and how many the suite sent itself."""
    synthetic = traffic.source.get("synthetic")
    mine = f" ({synthetic['sent']:,} sent by the suite)" if isinstance(synthetic, Mapping) else ""
    if noun == "request":
        return f"{count.bad:,} of {_plural(count.total, 'request')}{mine}"
    return f"{_plural(count.bad, noun)} in {_plural(count.total, 'request')}{mine}"


def _rounded(needed: int) -> str:
    """≈ 300 for 299, ≈ 3,000 for 2,995: a count to aim for, not a threshold to the request."""
    if needed < 100:
        return f"{needed:,}"
    digits = len(str(needed)) - 2
    return f"{round(needed, -digits):,}"


# ---------------------------------------------------------------------------------------------------------------
# Against the baseline before the deploy


def enough_requests(share: float, proof: Proof) -> int:
    """The requests a window needs on its own: as many as could show `share` with no bad request at all."""
    return max(requests_needed(0, share, proof.confidence) or 0, proof.min_requests)


def latency_vs_baseline(
    current: Traffic, baseline: Traffic, max_increase_ms: float, floor_ms: float | None, proof: Proof = Proof()
) -> Finding:
    """`latency.p95_vs_baseline`: the P95 rose by at most `max_increase_ms` against the baseline window, and a P95
    at or below `floor_ms` is never a regression. `limit` is the highest P95 that holds, max(baseline + increase,
    floor), judged as `latency` judges the SLO: by the count of requests slower than it. The baseline window must
    hold enough requests on its own; a thin one makes the comparison inconclusive, never a pass."""
    now, before = _p95_ms(current), _p95_ms(baseline)
    needed = enough_requests(SLOW_SHARE, proof)
    reason = _unmeasured(current, proof.min_requests, "p95") or _unmeasured(baseline, needed, "p95", "baseline: ")
    if reason is not None:
        return _compared(current, baseline, Outcome.INCONCLUSIVE, reason, "ms", now, before, None)
    assert now is not None and before is not None  # _unmeasured checked both
    limit = _round_ms(max(before + max_increase_ms, floor_ms if floor_ms is not None else -math.inf))
    head = f"P95 {_ms(now)} over {current.window}, baseline {_ms(before)} over {baseline.window}"
    if floor_ms is not None and limit == floor_ms and before + max_increase_ms < floor_ms:
        rule = f"limit {_ms(limit)}: the {_ms(floor_ms)} floor"
    else:
        rule = f"limit {_ms(limit)} (+{_ms(max_increase_ms)})"
    slower = slower_than(current, limit / 1000)
    if slower is None:
        why = "no latency histogram to count the requests slower than the limit"
        return _compared(current, baseline, Outcome.INCONCLUSIVE, f"{head}, {rule}: {why}", "ms", now, before, limit)
    count = Count.of(round(slower.count), round(slower.total), proof.confidence)
    slow = f"{_count(count, 'request', current)} slower"
    outcome, said, statistics = _share_rule(count, SLOW_SHARE, proof, slow, f"{_percent(SLOW_SHARE)} may be")
    statistics.update(counted=slower.how, quantile=QUANTILE, baseline_requests=_samples(baseline))
    message = f"{head}, {rule}: {said}"
    return _compared(current, baseline, outcome, message, "ms", now, before, limit, statistics)


def error_rate_vs_baseline(
    current: Traffic,
    baseline: Traffic,
    max_relative_increase: float,
    floor: float | None,
    proof: Proof = Proof(),
    slo_rate: float = 0.01,
) -> Finding:
    """`errors.rate_vs_baseline`: the error rate rose by at most `max_relative_increase` (0.5: +50 %) against the
    baseline window; the floor (default 0.01 %) is the rise that never counts as a regression. `limit` is the
    highest rate that holds: baseline + max(baseline x increase, floor). Judged by Newcombe's interval for the rise:
    FAIL when even its lower end is over the allowed rise (and enough errors to count); PASS when both windows
    hold enough requests on their own (as many as the SLO of `slo_rate` needs) and the rise seen is within the
    allowed one; otherwise INCONCLUSIVE, saying which."""
    floor = DEFAULT_ERROR_RATE_FLOOR if floor is None else floor
    now, before = _rate(current), _rate(baseline)
    needed = enough_requests(slo_rate, proof)
    reason = _unmeasured(current, proof.min_requests, "errors") or _unmeasured(baseline, 0, "errors", "baseline: ")
    if reason is not None:
        return _compared(current, baseline, Outcome.INCONCLUSIVE, reason, "ratio", now, before, None)
    assert now is not None and before is not None
    allowed = max(before * max_relative_increase, floor)
    limit = _significant(before + allowed, 6)
    k1, n1 = round(current.errors or 0), round(current.requests or 0)
    k2, n2 = round(baseline.errors or 0), round(baseline.requests or 0)
    low, high = difference(k1, n1, k2, n2, proof.confidence)
    statistics: dict[str, Any] = {
        "bad": k1,
        "requests": n1,
        "baseline_bad": k2,
        "baseline_requests": n2,
        "rise_interval": [_significant(low, 4), _significant(high, 4)],
        "allowed_rise": _significant(allowed, 4),
        "confidence": proof.confidence,
    }
    head = (
        f"error rate {_percent(now)} over {current.window} ({_errors(current)}), "
        f"baseline {_percent(before)} over {baseline.window} ({_errors(baseline)})"
    )
    rises = f"rise {_points(low)} to {_points(high)} at {_number(proof.confidence * 100)} % confidence"
    allowed_text = f"allowed +{_number(max_relative_increase * 100)} % or the {_percent(floor)} floor"
    if low > allowed and k1 >= proof.min_failures:
        outcome, rule = Outcome.FAILED, "lower bound of the rise over the allowed"
        said = f"{rises}, over the {allowed_text}"
    elif n2 < needed or n1 < needed:
        thin, held = ("baseline", n2) if n2 < needed else ("current window", n1)
        outcome, rule = Outcome.INCONCLUSIVE, f"{thin} too thin"
        said = f"the {thin} holds {_plural(held, 'request')}, needs ≈ {_rounded(needed)} to compare"
    elif now - before > allowed:
        outcome, rule = Outcome.INCONCLUSIVE, "rise seen but not shown"
        said = f"{rises}: over the {allowed_text} as seen, not yet shown"
    else:
        outcome, rule = Outcome.PASSED, "rise seen within the allowed"
        said = f"{rises}, within the {allowed_text}"
    statistics["rule"] = rule
    return _compared(current, baseline, outcome, f"{head}: {said}", "ratio", now, before, limit, statistics)


def _points(value: float) -> str:
    return f"{_number(value * 100, sign=True)} points" if value else "0 points"


# ---------------------------------------------------------------------------------------------------------------
# Alerts


@dataclass(frozen=True)
class Alert:
    """One firing alert, as Prometheus (`ALERTS`) or Alertmanager reports it."""

    name: str
    labels: Mapping[str, str]
    severity: str | None
    active_since: str | None  # when it started firing, as reported (RFC 3339)


def alerts(
    firing: Sequence[Alert] | None,
    problem: str | None,
    severities: Sequence[str],
    ignore: Sequence[str],
    source: dict[str, Any],
    *,
    selector_reach: tuple[bool | None, str],
    elapsed_ms: float | None = None,
    unmatched: Sequence[Alert] = (),
) -> Finding:
    """`alerts.no_critical_firing`: no alert of a deciding severity (compared without case) fires, except those named
    in `ignore`. Alerts that could not be read are inconclusive, never a pass; so is a selector that cannot be shown
    to match any alert (`selector_reach`: matches True / unknown None / cannot False, and why), which names the
    deciding alerts firing outside it (`unmatched`)."""
    limit = {"severities": list(severities), "ignore": list(ignore)}
    wanted = " or ".join(severities) or "(none)"
    where = _alert_source(source)
    common: dict[str, Any] = {"limit": limit, "source": source, "duration_ms": elapsed_ms}
    if problem is not None or firing is None:
        why = one_line(problem) if problem is not None else "no answer"
        return Finding(Outcome.INCONCLUSIVE, f"firing alerts could not be read{where}: {why}", **common)
    decides = _decides(severities, ignore)
    deciding = [alert for alert in firing if decides(alert)]
    others = [alert for alert in firing if not decides(alert)]
    observed = [_alert_record(alert) for alert in deciding]
    if deciding:
        listed = "; ".join(_alert_text(alert) for alert in deciding)
        message = cut(f"{_plural(len(deciding), 'alert')} of severity {wanted} firing{where}: {listed}", MESSAGE_CHARS)
        return Finding(Outcome.FAILED, message, observed=observed, samples=len(firing), **common)
    matches, how = selector_reach
    common["source"] = {**source, "selector_check": how}
    if matches is not True:
        outside = [alert for alert in unmatched if decides(alert)]
        firing_outside = ""
        if outside:
            names = ", ".join(sorted({_clean(alert.name, LABEL_CHARS) for alert in outside}))
            fire = "fires" if len(outside) == 1 else "fire"
            firing_outside = f"; meanwhile {_plural(len(outside), 'alert')} of severity {wanted} {fire} outside it: "
            firing_outside += names
        fix = ' (set `alerts.selector` to labels your alerts carry, e.g. job="...")' if matches is False else ""
        message = cut(f"{one_line(how, MESSAGE_CHARS)}{fix}{firing_outside}", MESSAGE_CHARS)  # the whole reason
        observed = [_alert_record(alert) for alert in outside]
        return Finding(Outcome.INCONCLUSIVE, message, observed=observed, samples=len(firing), **common)
    message = f"no alert of severity {wanted} firing{where} for {source.get('selector', 'the selector')}"
    if others:
        names = ", ".join(sorted({_clean(alert.name, LABEL_CHARS) for alert in others}))
        message = cut(f"{message} ({_plural(len(others), 'other alert')} firing: {names})", MESSAGE_CHARS)
    return Finding(Outcome.PASSED, message, observed=observed, samples=len(firing), **common)


def _alert_source(source: Mapping[str, Any]) -> str:
    """` in Alertmanager at <url>` or ` in Prometheus at <url>`: which one the alerts were read from."""
    url = str(source.get("url", "")).removesuffix("/api/v2/alerts").removesuffix("/api/v1/alerts")
    name = "Alertmanager" if source.get("kind") == "alertmanager" else "Prometheus"
    return f" in {name} at {url}" if url else ""


def _decides(severities: Sequence[str], ignore: Sequence[str]) -> Callable[[Alert], bool]:
    wanted = {severity.casefold() for severity in severities}
    ignored = set(ignore)
    return lambda alert: (
        alert.name not in ignored and alert.severity is not None and alert.severity.casefold() in wanted
    )


def _alert_text(alert: Alert) -> str:
    """`HighErrorRate (critical, since 2026-11-27T12:55:00Z; instance=10.0.0.7:8080, service=api)`."""
    details = [alert.severity or "no severity", f"since {alert.active_since}" if alert.active_since else ""]
    shown = [(k, v) for k, v in sorted(alert.labels.items()) if k not in ("alertname", "severity", "alertstate")]
    labels = ", ".join(f"{_clean(k, LABEL_CHARS)}={_clean(v, LABEL_CHARS)}" for k, v in shown[:LABELS_SHOWN])
    if len(shown) > LABELS_SHOWN:
        labels += f", +{len(shown) - LABELS_SHOWN} more"
    head = ", ".join(part for part in details if part)
    return f"{_clean(alert.name, LABEL_CHARS)} ({head}{'; ' + labels if labels else ''})"


def _alert_record(alert: Alert) -> dict[str, Any]:
    return {
        "name": alert.name,
        "severity": alert.severity,
        "active_since": alert.active_since,
        "labels": {key: cut(value, OBSERVED_LABEL_CHARS) for key, value in alert.labels.items()},
    }


# ---------------------------------------------------------------------------------------------------------------
# Resources


def resource(
    kind: str,
    observed: float | None,
    limit: float,
    unit: str,
    source: dict[str, Any],
    problem: str | None,
    *,
    window: str | None = None,
    elapsed_ms: float | None = None,
) -> Finding:
    """`resources.cpu` / `resources.memory`: what the service uses is at most `limit` (in `unit`: cores, bytes)."""
    what = {"cpu": "CPU", "memory": "memory"}.get(kind, kind)
    over = f" over {window}" if window else ""
    common: dict[str, Any] = {"limit": limit, "unit": unit, "window": window, "source": source}
    common["duration_ms"] = elapsed_ms
    if problem is not None:
        return Finding(Outcome.INCONCLUSIVE, f"no {what} figure{over}: {one_line(problem)}", **common)
    if observed is None:
        return Finding(Outcome.INCONCLUSIVE, f"no {what} figure{over}", **common)
    if not math.isfinite(observed):
        message = f"{what} is {_special(observed)}{over}: no figure to judge"
        return Finding(Outcome.INCONCLUSIVE, message, observed=observed, **common)
    figure = _round_amount(observed, unit)
    outcome = Outcome.PASSED if figure <= limit else Outcome.FAILED
    message = f"{what} {_amount(figure, unit)}{over}, limit {_amount(limit, unit)}"
    return Finding(outcome, message, observed=figure, samples=1, **common)


def _round_amount(value: float, unit: str) -> float:
    if unit == "bytes":
        return round(value)
    if unit == "cores":
        return round(value, 3)  # a millicore
    return _significant(value, 4)


def _amount(value: float, unit: str) -> str:
    if unit == "bytes":
        for size, name in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
            if abs(value) >= size:
                return f"{_number(value / size)} {name}"
        return f"{_number(value)} bytes"
    return f"{_number(value)} {unit}"


# ---------------------------------------------------------------------------------------------------------------
# Shared: is a window's traffic measured well enough to judge?


def _unmeasured(traffic: Traffic, min_requests: int, figure: str, side: str = "") -> str | None:
    """Why `figure` ("p95" or "errors") of this window cannot be judged, or None when it can."""
    window, requests, errors = traffic.window, traffic.requests, traffic.errors
    if traffic.problem is not None:
        return f"{side}no figures over {window}: {one_line(traffic.problem)}"
    if requests is None or not math.isfinite(requests) or requests < 0:
        return f"{side}no request count over {window}{_missing(traffic, 'requests', requests)}"
    count = round(requests)
    if count == 0:
        return f"{side}no requests over {window}{_needed(min_requests)}{_missing(traffic, 'requests')}"
    if count < min_requests:
        return f"{side}only {_plural(count, 'request')} over {window}{_needed(min_requests)}"
    if figure == "p95" and not _finite(traffic.p95_s):
        return f"{side}{_no_p95(traffic)}"
    if figure == "errors":
        if errors is None or not math.isfinite(errors) or errors < 0:
            return f"{side}no error count over {window}{_missing(traffic, 'errors', errors)}"
        if round(errors) > count:
            return f"{side}{round(errors):,} errors but only {_plural(count, 'request')} over {window}"
    return None


def _needed(min_requests: int) -> str:
    return f", {min_requests:,} needed to judge" if min_requests > 0 else ""


def _no_p95(traffic: Traffic) -> str:
    if traffic.p95_s is None:
        return f"no P95 over {traffic.window}{_missing(traffic, 'p95')}"
    why = _missing(traffic, "p95") or (": no latency observations" if math.isnan(traffic.p95_s) else "")
    return f"P95 is {_special(traffic.p95_s)} over {traffic.window}{why}"


def _missing(traffic: Traffic, figure: str, value: float | None = None) -> str:
    """The reason a figure was not measured, as recorded by whoever measured it; else what the value was."""
    missing = traffic.source.get("missing")
    if isinstance(missing, Mapping) and missing.get(figure):
        return f": {one_line(str(missing[figure]))}"
    return f" (got {_special(value)})" if value is not None else ""


def _p95_ms(traffic: Traffic) -> float | None:
    p95 = traffic.p95_s
    return _round_ms(p95 * 1000) if p95 is not None and math.isfinite(p95) else None


def _rate(traffic: Traffic) -> float | None:
    requests, errors = traffic.requests, traffic.errors
    if requests is None or errors is None or not math.isfinite(requests) or not math.isfinite(errors):
        return None
    return _significant(errors / requests, 4) if requests > 0 else None


def _traffic_finding(traffic: Traffic, outcome: Outcome, message: str, **values: Any) -> Finding:
    return Finding(
        outcome,
        message,
        window=traffic.window,
        samples=_samples(traffic),
        source=traffic.source,
        duration_ms=traffic.elapsed_ms,
        **values,
    )


def _compared(
    current: Traffic,
    baseline: Traffic,
    outcome: Outcome,
    message: str,
    unit: str,
    observed: float | None,
    before: float | None,
    limit: float | None,
    statistics: dict[str, Any] | None = None,
) -> Finding:
    return Finding(
        outcome,
        message,
        statistics=statistics,
        observed=observed,
        limit=limit,
        baseline=before,
        unit=unit,
        window=f"{current.window}; baseline {baseline.window}",
        samples=_samples(current),
        source={"current": current.source, "baseline": baseline.source},
        duration_ms=max(current.elapsed_ms, baseline.elapsed_ms),  # both windows are gathered at once
    )


def _samples(traffic: Traffic) -> int | None:
    requests = traffic.requests
    return round(requests) if requests is not None and math.isfinite(requests) else None


def _requests(traffic: Traffic) -> str:
    return _plural(_samples(traffic) or 0, "request")


def _errors(traffic: Traffic) -> str:
    errors = traffic.errors
    count = round(errors) if errors is not None and math.isfinite(errors) else 0
    return f"{count:,} of {_requests(traffic)}"


# ---------------------------------------------------------------------------------------------------------------
# Numbers as messages show them


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _round_ms(value: float) -> float:
    """To 0.1 ms, or 3 significant digits below 1 ms: finer than any histogram's interpolation."""
    return round(value, 1) if abs(value) >= 1 else _significant(value, 3)


def _significant(value: float, digits: int) -> float:
    return float(f"{value:.{digits}g}")


def _number(value: float, sign: bool = False) -> str:
    """1,532 · 412 · 127.8 · 0.045 · 2.285: thousands grouped, no trailing zeros, small values to 3 digits."""
    plus = "+" if sign else ""
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:{plus},.1f}".removesuffix(".0")
    if abs(value) >= 1:
        return f"{value:{plus}.4g}"
    decimals = 2 - math.floor(math.log10(abs(value)))  # 3 significant digits, never in e-notation
    return f"{value:{plus}.{decimals}f}".rstrip("0")


def _special(value: float) -> str:
    """NaN and infinities as PromQL writes them."""
    return "NaN" if math.isnan(value) else f"{value:+}".replace("inf", "Inf") if math.isinf(value) else str(value)


def _ms(value: float | None, sign: bool = False) -> str:
    return "none" if value is None else f"{_number(value, sign)} ms"


def _percent(ratio: float | None) -> str:
    return "none" if ratio is None else f"{_number(ratio * 100)} %"


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


def _clean(text: str, limit: int) -> str:
    """A name or label value from outside, on one line and short."""
    return cut(" ".join(str(text).split()), limit)
