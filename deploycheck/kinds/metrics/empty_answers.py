"""Why Prometheus answered a metric query with nothing: too early for its scrape interval, a selector that matches no
series at all, or series that exist but not of the metric asked. Said instead of "no series match <query>", which
was true in all three cases and told the reader nothing. Pure: the answers of /api/v1/targets and
/api/v1/label/<label>/values in, a sentence out (`MetricSession` asks them, only after an empty answer).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from deploycheck.kinds.metrics.exposition import ExpositionError, parse_matchers
from deploycheck.kinds.metrics.session import Target

SHOWN = 4  # metric names quoted from those a selector matches


def scrape_interval(targets: Sequence[Target], selector: str) -> tuple[float, str] | None:
    """How often Prometheus scrapes the selector's series: the longest interval of the targets whose labels match
    it; else (its labels are the series' own) the shortest of all targets, so that "too early" is never said
    wrongly. With the words that say which."""
    intervals = [target.interval_s for target in targets if target.interval_s]
    if not intervals:
        return None
    try:
        matchers = parse_matchers(selector)
    except ExpositionError:
        matchers = []
    mine = [t.interval_s for t in targets if t.interval_s and matchers and all(m.matches(t.labels) for m in matchers)]
    if mine:
        return max(mine), ""
    return min(intervals), " (at the shortest interval of its targets)"


def too_early(
    seconds: float, interval: tuple[float, str], deployed_at: float | None, window_key: str | None
) -> str | None:
    """The window holds fewer than two scrapes, which a rate or an increase needs; None when it is long enough."""
    every, which = interval
    if seconds >= 2 * every:
        return None
    if deployed_at is not None:
        after = datetime.fromtimestamp(deployed_at + 2 * every, UTC).isoformat(timespec="seconds")
        return (
            f"too early: {seconds:.1f} s since the deploy, Prometheus scrapes every {every:g} s{which}; "
            f"judge after {after.replace('+00:00', 'Z')} (two scrapes after the deploy)"
        )
    key = f" (`{window_key}`)" if window_key else ""
    return (
        f"the window of {seconds:g} s{key} holds fewer than two scrapes: Prometheus scrapes every {every:g} s{which}; "
        f"make it at least {2 * every:g}s"
    )


def nothing_matched(selector: str, names: Sequence[str] | None, metric: str, prometheus: str, window: str) -> str:
    """The selector matches no series at all (`names` empty), or series of other metrics than `metric` (named, when
    known)."""
    if names is not None and not names:
        hour = "in the hour before the window ends"
        return f"the selector {{{selector}}} matches no series in Prometheus at {prometheus} ({hour})"
    others = ""
    if names:
        shown = ", ".join(sorted(names)[:SHOWN]) + (", ..." if len(names) > SHOWN else "")
        others = f" (the selector matches series of {shown})"
    return f"no {metric} series match {{{selector}}} over {window} in Prometheus at {prometheus}{others}"
