"""Pure judgement of the metric checks: traffic, alerts and usage figures + a rule -> Finding. No I/O here.

Every rule needs finite evidence to pass: a problem gathering it, a figure that is None, NaN or infinite, or fewer
requests than the rule's minimum make the finding inconclusive, with the reason in its message. Figures are rounded
for the message (P95 to 0.1 ms, rates to 4 significant digits) and judged as rounded, so that what the message shows
and the outcome always agree. The check id is left empty: the caller's `verify` fills it in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from deploycheck.findings import Finding, Outcome
from deploycheck.metrics import Traffic
from deploycheck.text import cut, one_line

DEFAULT_ERROR_RATE_FLOOR = 0.0001  # 0.01 %: rises of the error rate up to this are noise, never a regression
MESSAGE_CHARS = 600  # a message listing alerts is cut here
LABEL_CHARS = 80  # a label value quoted in a message
OBSERVED_LABEL_CHARS = 300  # a label value kept in the verdict
LABELS_SHOWN = 4  # labels of an alert quoted in the message (all of them are in `observed`)


# ---------------------------------------------------------------------------------------------------------------
# Latency and error rate against the SLO


def latency(current: Traffic, limit_ms: float, min_requests: int) -> Finding:
    """`latency.p95`: the P95 over the window is at most `limit_ms`."""
    p95 = _p95_ms(current)
    values = {"observed": p95, "limit": limit_ms, "unit": "ms"}
    reason = _unmeasured(current, min_requests, "p95")
    if reason is not None:
        shown = f" (P95 {_ms(p95)}, limit {_ms(limit_ms)})" if p95 is not None and current.problem is None else ""
        return _traffic_finding(current, Outcome.INCONCLUSIVE, reason + shown, **values)
    assert p95 is not None  # _unmeasured checked it
    outcome = Outcome.PASSED if p95 <= limit_ms else Outcome.FAILED
    message = f"P95 {_ms(p95)} over {current.window}, limit {_ms(limit_ms)} ({_requests(current)})"
    return _traffic_finding(current, outcome, message, **values)


def error_rate(current: Traffic, limit: float, min_requests: int) -> Finding:
    """`errors.rate`: the share of requests that failed over the window is at most `limit` (a ratio, 0..1)."""
    rate = _rate(current)
    values = {"observed": rate, "limit": limit, "unit": "ratio"}
    reason = _unmeasured(current, min_requests, "errors")
    if reason is not None:
        measured = rate is not None and current.problem is None
        shown = f" (error rate {_percent(rate)}, limit {_percent(limit)})" if measured else ""
        return _traffic_finding(current, Outcome.INCONCLUSIVE, reason + shown, **values)
    assert rate is not None
    outcome = Outcome.PASSED if rate <= limit else Outcome.FAILED
    message = f"error rate {_percent(rate)} over {current.window} ({_errors(current)}), limit {_percent(limit)}"
    return _traffic_finding(current, outcome, message, **values)


# ---------------------------------------------------------------------------------------------------------------
# Against the baseline before the deploy


def latency_vs_baseline(
    current: Traffic, baseline: Traffic, max_increase_ms: float, min_requests: int, floor_ms: float | None
) -> Finding:
    """`latency.p95_vs_baseline`: the P95 rose by at most `max_increase_ms` against the baseline window, and a P95 at
    or below `floor_ms` is never a regression. `limit` is the highest P95 that holds: max(baseline + increase,
    floor)."""
    now, before = _p95_ms(current), _p95_ms(baseline)
    reason = _unmeasured(current, min_requests, "p95") or _unmeasured(baseline, min_requests, "p95", "baseline: ")
    if reason is not None:
        return _compared(current, baseline, Outcome.INCONCLUSIVE, reason, "ms", now, before, None)
    assert now is not None and before is not None  # _unmeasured checked both
    limit = _round_ms(max(before + max_increase_ms, floor_ms if floor_ms is not None else -math.inf))
    rise = _round_ms(now - before)
    head = f"P95 {_ms(now)} over {current.window}, baseline {_ms(before)} over {baseline.window}"
    counts = f"({_requests(current)} now, {_requests(baseline)} before)"
    if floor_ms is not None and rise > max_increase_ms and now <= floor_ms:  # only the floor holds it
        rule = f"over the +{_ms(max_increase_ms)} allowed but within the {_ms(floor_ms)} floor"
    else:
        rule = f"limit +{_ms(max_increase_ms)}"
    outcome = Outcome.PASSED if now <= limit else Outcome.FAILED
    message = f"{head}: {_ms(rise, sign=True)}, {rule} {counts}"
    return _compared(current, baseline, outcome, message, "ms", now, before, limit)


def error_rate_vs_baseline(
    current: Traffic, baseline: Traffic, max_relative_increase: float, min_requests: int, floor: float | None
) -> Finding:
    """`errors.rate_vs_baseline`: the error rate rose by at most `max_relative_increase` (0.5: +50 %) against the
    baseline window. The floor (default 0.01 %) is the absolute rise that never counts as a regression: 0.01 % ->
    0.02 % is +100 % but no regression, a rate at or below the floor never regresses, and a rise from a baseline of
    0 fails only past the floor. `limit` is the highest rate that holds: baseline + max(baseline x increase, floor).
    """
    floor = DEFAULT_ERROR_RATE_FLOOR if floor is None else floor
    now, before = _rate(current), _rate(baseline)
    reason = _unmeasured(current, min_requests, "errors") or _unmeasured(baseline, min_requests, "errors", "baseline: ")
    if reason is not None:
        return _compared(current, baseline, Outcome.INCONCLUSIVE, reason, "ratio", now, before, None)
    assert now is not None and before is not None
    limit = _significant(before + max(before * max_relative_increase, floor), 6)
    outcome = Outcome.PASSED if now <= limit else Outcome.FAILED
    head = (
        f"error rate {_percent(now)} over {current.window} ({_errors(current)}), "
        f"baseline {_percent(before)} over {baseline.window} ({_errors(baseline)})"
    )
    allowed = f"+{_number(max_relative_increase * 100)} %"
    if before == 0:
        if now == 0:
            rule = "no errors before or now"
        else:
            rule = (
                f"a rise from nothing, {'past' if outcome is Outcome.FAILED else 'within'} the {_percent(floor)} floor"
            )
    else:
        relative = f"{_number((now - before) / before * 100, sign=True)} %"
        points = _number((now - before) * 100, sign=True)
        if outcome is Outcome.PASSED and now > before * (1 + max_relative_increase):  # only the floor holds it
            rule = f"{relative}, over the {allowed} allowed but {points} points is within the {_percent(floor)} floor"
        else:
            rule = f"{relative}, limit {allowed}"
    return _compared(current, baseline, outcome, f"{head}: {rule}", "ratio", now, before, limit)


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
    elapsed_ms: float | None = None,
) -> Finding:
    """`alerts.no_critical_firing`: no alert of a deciding severity (compared without case) fires, except those named
    in `ignore`. Alerts that could not be read are inconclusive, never a pass."""
    limit = {"severities": list(severities), "ignore": list(ignore)}
    wanted = " or ".join(severities) or "(none)"
    common: dict[str, Any] = {"limit": limit, "source": source, "duration_ms": elapsed_ms}
    if problem is not None or firing is None:
        why = one_line(problem) if problem is not None else "no answer"
        return Finding(Outcome.INCONCLUSIVE, f"firing alerts could not be read: {why}", **common)
    decides = _decides(severities, ignore)
    deciding = [alert for alert in firing if decides(alert)]
    others = [alert for alert in firing if not decides(alert)]
    observed = [_alert_record(alert) for alert in deciding]
    if deciding:
        listed = "; ".join(_alert_text(alert) for alert in deciding)
        message = cut(f"{_plural(len(deciding), 'alert')} of severity {wanted} firing: {listed}", MESSAGE_CHARS)
        return Finding(Outcome.FAILED, message, observed=observed, samples=len(firing), **common)
    message = f"no alert of severity {wanted} firing"
    if others:
        names = ", ".join(sorted({_clean(alert.name, LABEL_CHARS) for alert in others}))
        message = cut(f"{message} ({_plural(len(others), 'other alert')} firing: {names})", MESSAGE_CHARS)
    return Finding(Outcome.PASSED, message, observed=observed, samples=len(firing), **common)


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
) -> Finding:
    return Finding(
        outcome,
        message,
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
