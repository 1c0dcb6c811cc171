from __future__ import annotations

import math

import pytest

from deploycheck.findings import Outcome
from deploycheck.kinds.metrics import rules as judge_metrics
from deploycheck.kinds.metrics.rules import Alert, Proof
from deploycheck.kinds.metrics.traffic import Traffic

SOURCE = {"kind": "prometheus", "queries": {"buckets": "sum by (le) (increase(...))"}}
BASE_SOURCE = {"kind": "prometheus", "queries": {"buckets": "sum by (le) (increase(...)) @ deploy"}}
EDGES = (0.05, 0.1, 0.2, 0.25, 0.5, 1.0, math.inf)


def histogram(total: float, slower: dict[float, float]) -> tuple[tuple[float, float], ...]:
    """Cumulative buckets of `total` requests where `slower[le]` of them took longer than `le` (an edge not given
    has as many slower requests as the next edge given above it, or none)."""

    def slower_at(edge: float) -> float:
        return next((slower[given] for given in sorted(slower) if given >= edge), 0.0)

    return tuple((edge, total - slower_at(edge)) for edge in EDGES)


def traffic(
    requests=1532.0,
    errors=35.0,
    p95_s=0.142,
    window="5m",
    problem=None,
    source=None,
    elapsed_ms=12.5,
    buckets=None,
    durations=None,
):
    if buckets is None and durations is None and requests:
        buckets = histogram(requests, {})
    source = SOURCE if source is None else source
    return Traffic(requests, errors, p95_s, window, source, elapsed_ms, problem, buckets=buckets, durations=durations)


def before(requests=4210.0, errors=21.0, p95_s=0.140, window="15m", **others):
    return traffic(requests, errors, p95_s, window, source=BASE_SOURCE, elapsed_ms=9.0, **others)


# ---------------------------------------------------------------------------------------------------------------
# latency.p95: the share of requests slower than the limit, at a confidence


def test_latency_within_the_limit_passes_with_its_evidence():
    finding = judge_metrics.latency(traffic(p95_s=0.1423, buckets=histogram(1532, {0.2: 12, 0.25: 3})), 200)
    assert finding.outcome is Outcome.PASSED
    assert finding.message == (
        "P95 142.3 ms over 5m, limit 200 ms: 12 of 1,532 requests slower than 200 ms, "
        "at most 1.266 % at 95 % confidence, 5 % may be"
    )
    assert (finding.observed, finding.limit, finding.unit, finding.samples) == (142.3, 200, "ms", 1532)
    assert (finding.window, finding.source, finding.duration_ms, finding.check) == ("5m", SOURCE, 12.5, "")
    statistics = finding.statistics
    assert statistics is not None
    assert (statistics["bad"], statistics["requests"], statistics["confidence"]) == (12, 1532, 0.95)
    assert statistics["rule"] == "upper bound within the limit" and statistics["counted"] == "bucket edge"


def test_latency_is_decided_by_the_count_of_slow_requests():
    slow = traffic(p95_s=0.412, buckets=histogram(1000, {0.2: 300, 0.25: 200}))
    finding = judge_metrics.latency(slow, 200)
    assert finding.outcome is Outcome.FAILED
    assert "300 of 1,000 requests slower than 200 ms, at least 27.24 % at 95 % confidence" in finding.message
    assert finding.observed == 412.0  # the readable figure stays
    # 60 of 1,000 slower: P95 just over the limit, but the count cannot prove more than 5 % are slow.
    borderline = judge_metrics.latency(traffic(p95_s=0.205, buckets=histogram(1000, {0.2: 60})), 200)
    assert borderline.outcome is Outcome.INCONCLUSIVE
    assert "60 of 1,000 requests slower than 200 ms: cannot show ≤ 5 % yet" in borderline.message


def test_a_limit_between_bucket_edges_is_interpolated_and_said():
    # 1,000 requests, 100 between 250 ms and 500 ms: a 300 ms limit lies 1/5 of the way into that bucket.
    finding = judge_metrics.latency(traffic(p95_s=0.3, buckets=histogram(1000, {0.25: 100, 0.5: 0})), 300)
    assert finding.outcome is Outcome.FAILED
    assert "80 of 1,000 requests slower than 300 ms" in finding.message
    assert finding.message.endswith("(interpolated between the bucket bounds 250 ms and 500 ms)")
    assert finding.statistics is not None and finding.statistics["counted"] == "interpolated"


def test_timed_requests_are_counted_exactly():
    timed = traffic(requests=60, errors=0, p95_s=0.02, durations=(0.02,) * 60)
    finding = judge_metrics.latency(timed, 200)
    assert finding.outcome is Outcome.PASSED and finding.statistics["counted"] == "counted"


def test_too_few_requests_say_how_many_would_settle_it():
    finding = judge_metrics.latency(traffic(requests=40, p95_s=0.012), 200)
    assert finding.outcome is Outcome.INCONCLUSIVE
    assert finding.message == (
        "P95 12 ms over 5m, limit 200 ms: 0 of 40 requests slower than 200 ms: cannot show ≤ 5 % yet (needs ≈ 59)"
    )
    assert finding.statistics["needed"] == 59


def test_a_configured_minimum_can_ask_for_more():
    finding = judge_metrics.latency(traffic(requests=120, p95_s=0.412), 200, Proof(min_requests=500))
    assert finding.outcome is Outcome.INCONCLUSIVE
    assert finding.message == "only 120 requests over 5m, 500 needed to judge (P95 412 ms, limit 200 ms)"


@pytest.mark.parametrize(
    ("figures", "message"),
    [
        ({"p95_s": math.nan}, "P95 is NaN over 5m: no latency observations"),
        ({"p95_s": math.inf}, "P95 is +Inf over 5m"),
        ({"p95_s": None}, "no P95 over 5m"),
        ({"requests": None}, "no request count over 5m"),
        ({"requests": math.nan}, "no request count over 5m (got NaN)"),
        ({"requests": 0, "p95_s": math.nan}, "no requests over 5m"),
        ({"problem": "Prometheus unreachable: connection refused"}, "no figures over 5m: Prometheus unreachable: "),
        ({"problem": "<html><title>502 Bad Gateway</title></html>"}, "no figures over 5m: 502 Bad Gateway"),
        ({"buckets": ()}, "P95 142 ms over 5m, limit 200 ms: no latency histogram"),
    ],
)
def test_latency_without_finite_evidence_is_inconclusive(figures, message):
    finding = judge_metrics.latency(traffic(**figures), 200)
    assert finding.outcome is Outcome.INCONCLUSIVE
    assert finding.message.startswith(message)


def test_a_figure_the_probe_could_not_measure_is_inconclusive_with_its_reason():
    missing = {**SOURCE, "missing": {"p95": "the service exposes no http_request_duration_seconds_bucket{} series"}}
    finding = judge_metrics.latency(traffic(p95_s=math.nan, source=missing), 200)
    assert finding.message == (
        "P95 is NaN over 5m: the service exposes no http_request_duration_seconds_bucket{} series"
    )


# ---------------------------------------------------------------------------------------------------------------
# errors.rate: the cases


@pytest.mark.parametrize(
    ("errors", "requests", "outcome", "said"),
    [
        (0, 120, Outcome.INCONCLUSIVE, "0 errors in 120 requests over 5m: cannot show ≤ 1 % yet (needs ≈ 300)"),
        (0, 400, Outcome.PASSED, "0 errors in 400 requests over 5m, at most 0.746 % at 95 % confidence"),
        (3, 100, Outcome.FAILED, "3 errors in 100 requests over 5m, at least 1.025 % at 95 % confidence"),
        (1, 20, Outcome.INCONCLUSIVE, "1 error in 20 requests over 5m: cannot show ≤ 1 % yet (needs ≈ 470 with no"),
        (2, 10, Outcome.INCONCLUSIVE, "2 errors in 10 requests over 5m would break the 1 % limit, but fewer than 3"),
        (35, 1532, Outcome.FAILED, "35 errors in 1,532 requests over 5m, at least 1.647 %"),
        (10, 1000, Outcome.INCONCLUSIVE, "10 errors in 1,000 requests over 5m: cannot show ≤ 1 % yet"),
    ],
)
def test_the_error_rate_is_judged_by_what_its_count_shows(errors, requests, outcome, said):
    finding = judge_metrics.error_rate(traffic(requests=requests, errors=errors), 0.01)
    assert finding.outcome is outcome
    assert said in finding.message
    assert finding.statistics["bad"] == errors and finding.statistics["requests"] == requests


def test_sufficiency_follows_the_limit():
    # With no errors, a pass needs about 3/p0 requests: 299 for 1 %, 2,995 for 0.1 %, 59 for 5 %.
    for limit, needed in ((0.01, 299), (0.001, 2995), (0.05, 59)):
        assert judge_metrics.error_rate(traffic(requests=needed, errors=0), limit).outcome is Outcome.PASSED
        short = judge_metrics.error_rate(traffic(requests=needed - 1, errors=0), limit)
        assert short.outcome is Outcome.INCONCLUSIVE and short.statistics["needed"] == needed


def test_confidence_and_the_stray_error_guard_are_configurable():
    assert judge_metrics.error_rate(traffic(requests=200, errors=0), 0.01).outcome is Outcome.INCONCLUSIVE
    assert judge_metrics.error_rate(traffic(requests=200, errors=0), 0.01, Proof(0.8)).outcome is Outcome.PASSED
    two = traffic(requests=10, errors=2)
    assert judge_metrics.error_rate(two, 0.01, Proof(min_failures=2)).outcome is Outcome.FAILED


@pytest.mark.parametrize(
    ("figures", "message"),
    [
        ({"errors": None}, "no error count over 5m"),
        ({"errors": math.inf}, "no error count over 5m (got +Inf)"),
        ({"errors": 2000}, "2,000 errors but only 1,532 requests over 5m"),
        ({"requests": 0, "errors": 0}, "no requests over 5m"),
        ({"problem": "no answer within 10s"}, "no figures over 5m: no answer within 10s"),
    ],
)
def test_error_rate_without_finite_evidence_is_inconclusive(figures, message):
    finding = judge_metrics.error_rate(traffic(**figures), 0.01)
    assert finding.outcome is Outcome.INCONCLUSIVE
    assert finding.message.startswith(message)


def test_an_unknown_error_count_quotes_why():
    source = {"kind": "scrape", "missing": {"errors": "no http_requests_total series has a 'status' label"}}
    finding = judge_metrics.error_rate(traffic(errors=None, source=source), 0.01)
    assert finding.message == "no error count over 5m: no http_requests_total series has a 'status' label"


# ---------------------------------------------------------------------------------------------------------------
# latency.p95_vs_baseline


def test_latency_rise_past_the_allowed_increase_fails_with_both_windows():
    now = traffic(p95_s=0.3123, buckets=histogram(1532, {0.2: 600, 0.25: 400, 0.5: 10}))
    finding = judge_metrics.latency_vs_baseline(now, before(p95_s=0.1501), 100, None)
    assert finding.outcome is Outcome.FAILED
    assert finding.message.startswith(
        "P95 312.3 ms over 5m, baseline 150.1 ms over 15m, limit 250.1 ms (+100 ms): 400 of 1,532 requests slower"
    )
    assert (finding.observed, finding.baseline, finding.limit, finding.unit) == (312.3, 150.1, 250.1, "ms")
    assert finding.source == {"current": SOURCE, "baseline": BASE_SOURCE}
    assert (finding.window, finding.samples, finding.duration_ms) == ("5m; baseline 15m", 1532, 12.5)
    assert finding.statistics["baseline_requests"] == 4210


def test_latency_rise_within_the_allowed_increase_passes():
    finding = judge_metrics.latency_vs_baseline(traffic(p95_s=0.240), before(p95_s=0.150), 100, None)
    assert finding.outcome is Outcome.PASSED and "limit 250 ms (+100 ms): 0 of 1,532 requests slower" in finding.message


def test_latency_at_or_below_the_floor_is_never_a_regression():
    finding = judge_metrics.latency_vs_baseline(traffic(p95_s=0.045), before(p95_s=0.010), 20, 50)
    assert finding.outcome is Outcome.PASSED and "limit 50 ms: the 50 ms floor" in finding.message
    assert finding.limit == 50
    slow = traffic(p95_s=0.1, buckets=histogram(1532, {0.05: 900, 0.1: 20}))
    above = judge_metrics.latency_vs_baseline(slow, before(p95_s=0.010), 20, 50)
    assert above.outcome is Outcome.FAILED and above.limit == 50


def test_a_thin_window_on_either_side_never_passes():
    # Kayenta's thin-data case: 7 of 10 points 100x worse. Never a pass.
    now = traffic(requests=10, p95_s=2.0, durations=(2.0,) * 7 + (0.02,) * 3)
    then = before(requests=10, p95_s=0.02, durations=(0.02,) * 10)
    finding = judge_metrics.latency_vs_baseline(now, then, 100, None)
    assert finding.outcome is not Outcome.PASSED
    assert finding.message == "baseline: only 10 requests over 15m, 59 needed to judge"


@pytest.mark.parametrize(
    ("now", "then", "message"),
    [
        ({}, {"requests": 50}, "baseline: only 50 requests over 15m, 59 needed to judge"),
        ({}, {"p95_s": math.nan}, "baseline: P95 is NaN over 15m"),
        ({}, {"problem": "no deploy time: give --deployed-at"}, "baseline: no figures over 15m: no deploy time"),
        ({"p95_s": None}, {}, "no P95 over 5m"),
    ],
)
def test_latency_vs_baseline_needs_figures_on_both_sides(now, then, message):
    finding = judge_metrics.latency_vs_baseline(traffic(**now), before(**then), 100, None)
    assert finding.outcome is Outcome.INCONCLUSIVE and finding.limit is None
    assert finding.message.startswith(message)


# ---------------------------------------------------------------------------------------------------------------
# errors.rate_vs_baseline


def rates(now_errors, then_errors, requests=10_000.0):
    return traffic(requests=requests, errors=now_errors), before(requests=requests, errors=then_errors)


def test_a_doubled_tiny_error_rate_is_no_regression_under_the_default_floor():
    # The metrics issue's case: 0.01 % -> 0.02 % is +100 %, but no regression.
    finding = judge_metrics.error_rate_vs_baseline(*rates(2, 1), 0.5, None)
    assert finding.outcome is not Outcome.FAILED
    assert finding.message.startswith(
        "error rate 0.02 % over 5m (2 of 10,000 requests), baseline 0.01 % over 15m (1 of 10,000 requests): rise "
    )
    assert (finding.observed, finding.baseline, finding.limit, finding.unit) == (0.0002, 0.0001, 0.0002, "ratio")


def test_a_rise_shown_past_the_allowed_one_fails():
    finding = judge_metrics.error_rate_vs_baseline(*rates(200, 100), 0.5, None)
    assert finding.outcome is Outcome.FAILED
    assert finding.message.endswith("at 95 % confidence, over the allowed +50 % or the 0.01 % floor")
    assert (finding.observed, finding.baseline, finding.limit) == (0.02, 0.01, 0.015)
    assert finding.source == {"current": SOURCE, "baseline": BASE_SOURCE}
    assert finding.statistics["rule"] == "lower bound of the rise over the allowed"


def test_a_rise_within_the_allowed_one_passes_and_one_seen_but_not_shown_holds():
    assert judge_metrics.error_rate_vs_baseline(*rates(140, 100), 0.5, None).outcome is Outcome.PASSED
    assert judge_metrics.error_rate_vs_baseline(*rates(50, 100), 0.5, None).outcome is Outcome.PASSED
    seen = judge_metrics.error_rate_vs_baseline(*rates(170, 100), 0.5, None)
    assert seen.outcome is Outcome.INCONCLUSIVE and seen.message.endswith("as seen, not yet shown")


def test_a_rise_from_nothing_fails_once_shown():
    rise = judge_metrics.error_rate_vs_baseline(*rates(30, 0), 0.5, None)
    assert rise.outcome is Outcome.FAILED and rise.limit == 0.0001
    clean = judge_metrics.error_rate_vs_baseline(*rates(0, 0), 0.5, None)
    assert clean.outcome is Outcome.PASSED


def test_a_thin_baseline_is_inconclusive_never_a_pass():
    thin = judge_metrics.error_rate_vs_baseline(
        traffic(requests=5000, errors=0), before(requests=100, errors=0), 0.5, None
    )
    assert thin.outcome is Outcome.INCONCLUSIVE
    assert thin.message.endswith("the baseline holds 100 requests, needs ≈ 300 to compare")


@pytest.mark.parametrize(
    ("now", "then", "message"),
    [
        ({}, {"errors": None}, "baseline: no error count over 15m"),
        ({"problem": "Prometheus answered 503"}, {}, "no figures over 5m: Prometheus answered 503"),
    ],
)
def test_error_rate_vs_baseline_needs_figures_on_both_sides(now, then, message):
    finding = judge_metrics.error_rate_vs_baseline(traffic(**now), before(**then), 0.5, None)
    assert finding.outcome is Outcome.INCONCLUSIVE and finding.limit is None
    assert finding.message.startswith(message)


# ---------------------------------------------------------------------------------------------------------------
# alerts.no_critical_firing

REACHED = (True, "rule HighErrorRate keeps the service label")
ALERT_SOURCE = {"kind": "prometheus", "query": "ALERTS{alertstate='firing'}", "selector": 'service="api"'}
HIGH_ERRORS = Alert(
    "HighErrorRate",
    {"alertname": "HighErrorRate", "service": "api", "instance": "10.0.0.7:8080", "severity": "critical"},
    "critical",
    "2026-11-27T12:55:00Z",
)
WATCHDOG = Alert("Watchdog", {"alertname": "Watchdog", "severity": "none"}, "none", "2026-11-01T00:00:00Z")
DISK = Alert("DiskFilling", {"alertname": "DiskFilling", "service": "api"}, "warning", None)


def test_a_critical_alert_firing_fails_and_is_listed():
    finding = judge_metrics.alerts(
        [HIGH_ERRORS, WATCHDOG], None, ["critical"], [], ALERT_SOURCE, elapsed_ms=8.0, selector_reach=REACHED
    )
    assert finding.outcome is Outcome.FAILED
    assert finding.message == (
        "1 alert of severity critical firing: "
        "HighErrorRate (critical, since 2026-11-27T12:55:00Z; instance=10.0.0.7:8080, service=api)"
    )
    assert finding.observed == [
        {
            "name": "HighErrorRate",
            "severity": "critical",
            "active_since": "2026-11-27T12:55:00Z",
            "labels": dict(HIGH_ERRORS.labels),
        }
    ]
    assert finding.limit == {"severities": ["critical"], "ignore": []}
    assert (finding.source, finding.samples, finding.duration_ms) == (ALERT_SOURCE, 2, 8.0)


def test_no_deciding_alert_passes_and_names_the_others():
    finding = judge_metrics.alerts([WATCHDOG, DISK], None, ["critical"], [], ALERT_SOURCE, selector_reach=REACHED)
    assert finding.outcome is Outcome.PASSED
    assert finding.message == (
        'no alert of severity critical firing for service="api" (2 other alerts firing: DiskFilling, Watchdog)'
    )
    assert finding.observed == []
    quiet = judge_metrics.alerts([], None, ["critical"], [], ALERT_SOURCE, selector_reach=REACHED)
    assert (quiet.outcome, quiet.message) == (Outcome.PASSED, 'no alert of severity critical firing for service="api"')
    assert quiet.source["selector_check"] == REACHED[1]


def test_severities_decide_without_case_and_ignored_names_never_do():
    shouting = Alert("HighErrorRate", {}, "CRITICAL", None)
    assert (
        judge_metrics.alerts([shouting], None, ["critical"], [], {}, selector_reach=REACHED).outcome is Outcome.FAILED
    )
    assert (
        judge_metrics.alerts([HIGH_ERRORS], None, ["critical"], ["HighErrorRate"], {}, selector_reach=REACHED).outcome
        is Outcome.PASSED
    )
    paging = judge_metrics.alerts([DISK, HIGH_ERRORS], None, ["page", "warning"], [], {}, selector_reach=REACHED)
    assert paging.outcome is Outcome.FAILED and paging.message.startswith("1 alert of severity page or warning")
    assert judge_metrics.alerts(
        [Alert("NoSeverity", {}, None, None)], None, ["critical"], [], {}, selector_reach=REACHED
    ).outcome is (Outcome.PASSED)


@pytest.mark.parametrize(
    ("firing", "problem", "message"),
    [
        (None, "connection refused", "firing alerts could not be read: connection refused"),
        ([], "Alertmanager answered 500", "firing alerts could not be read: Alertmanager answered 500"),
        (None, None, "firing alerts could not be read: no answer"),
    ],
)
def test_alerts_that_could_not_be_read_are_inconclusive_never_a_pass(firing, problem, message):
    finding = judge_metrics.alerts(firing, problem, ["critical"], [], ALERT_SOURCE, selector_reach=REACHED)
    assert (finding.outcome, finding.message) == (Outcome.INCONCLUSIVE, message)


def test_many_alerts_keep_the_message_one_short_line_and_observed_complete():
    noisy = [
        Alert(f"Alert{i}\nsecond line", {f"label{j}": "v" * 500 for j in range(8)}, "critical", None) for i in range(30)
    ]
    finding = judge_metrics.alerts(noisy, None, ["critical"], [], {}, selector_reach=REACHED)
    assert finding.outcome is Outcome.FAILED
    assert "\n" not in finding.message and len(finding.message) <= judge_metrics.MESSAGE_CHARS
    assert finding.message.startswith("30 alerts of severity critical firing: Alert0 second line (critical; label0=")
    assert "+4 more" in finding.message
    assert len(finding.observed) == 30
    assert len(finding.observed[0]["labels"]["label0"]) <= judge_metrics.OBSERVED_LABEL_CHARS


# ---------------------------------------------------------------------------------------------------------------
# resources.cpu, resources.memory


def test_memory_over_its_limit_fails_in_readable_units():
    finding = judge_metrics.resource("memory", 612.3 * 2**20, 512 * 2**20, "bytes", {"query": "max(...)"}, None)
    assert finding.outcome is Outcome.FAILED
    assert finding.message == "memory 612.3 MiB, limit 512 MiB"
    assert (finding.observed, finding.limit, finding.unit) == (642_043_085, 512 * 2**20, "bytes")
    assert finding.source == {"query": "max(...)"}


def test_cpu_within_its_limit_passes():
    finding = judge_metrics.resource("cpu", 0.4321, 0.5, "cores", {}, None, window="5m ending 2026-11-27T13:00:00Z")
    assert finding.outcome is Outcome.PASSED
    assert finding.message == "CPU 0.432 cores over 5m ending 2026-11-27T13:00:00Z, limit 0.5 cores"
    assert (finding.observed, finding.window) == (0.432, "5m ending 2026-11-27T13:00:00Z")
    assert judge_metrics.resource("cpu", 0.6234, 0.5, "cores", {}, None).outcome is Outcome.FAILED


@pytest.mark.parametrize(
    ("observed", "problem", "message"),
    [
        (None, None, "no CPU figure"),
        (math.nan, None, "CPU is NaN: no figure to judge"),
        (math.inf, None, "CPU is +Inf: no figure to judge"),
        (0.2, "no process_cpu_seconds_total exposed", "no CPU figure: no process_cpu_seconds_total exposed"),
    ],
)
def test_resource_without_a_finite_figure_is_inconclusive(observed, problem, message):
    finding = judge_metrics.resource("cpu", observed, 0.5, "cores", {}, problem)
    assert (finding.outcome, finding.message) == (Outcome.INCONCLUSIVE, message)


# ---------------------------------------------------------------------------------------------------------------
# Never a pass without finite evidence, whatever the rule


UNUSABLE = [
    {"p95_s": math.nan, "errors": math.nan},
    {"p95_s": math.inf, "errors": math.inf},
    {"p95_s": None, "errors": None},
    {"requests": None},
    {"requests": math.nan},
    {"requests": -5},
    {"requests": 3},
    {"problem": "unreachable"},
]


@pytest.mark.parametrize("figures", UNUSABLE)
def test_no_traffic_rule_passes_without_finite_evidence(figures):
    bad, good = traffic(**figures), traffic()
    asks = Proof(min_requests=100)
    findings = [
        judge_metrics.latency(bad, 10_000, asks),
        judge_metrics.error_rate(bad, 1.0, asks),
        judge_metrics.latency_vs_baseline(bad, good, 10_000, 10_000, asks),
        judge_metrics.latency_vs_baseline(good, bad, 10_000, 10_000, asks),
        judge_metrics.error_rate_vs_baseline(bad, good, 1.0, 1.0, asks),
        judge_metrics.error_rate_vs_baseline(good, bad, 1.0, 1.0, asks),
    ]
    assert [finding.outcome for finding in findings] == [Outcome.INCONCLUSIVE] * len(findings)
    assert all(finding.message and "\n" not in finding.message for finding in findings)


def test_a_selector_no_alert_can_match_is_inconclusive_and_names_the_critical_alerts_outside_it():
    how = 'the selector service="api" matches no alert: none of the 1 alerting rules gives an alert its labels'
    outside = Alert("HighErrorRate", {"alertname": "HighErrorRate", "job": "api"}, "critical", None)
    finding = judge_metrics.alerts([], None, ["critical"], [], ALERT_SOURCE, selector_reach=(False, how),
                                   unmatched=[outside, WATCHDOG])  # fmt: skip
    assert finding.outcome is Outcome.INCONCLUSIVE  # nothing matched, and nothing could: not a pass
    assert finding.message == (
        f'{how} (set `alerts.selector` to labels your alerts carry, e.g. job="..."); meanwhile 1 alert of severity '
        "critical fires outside it: HighErrorRate"
    )
    assert finding.observed[0]["name"] == "HighErrorRate" and finding.source["selector_check"] == how
    unknown = judge_metrics.alerts([], None, ["critical"], [], ALERT_SOURCE, selector_reach=(None, "could not ask"))
    assert (unknown.outcome, unknown.message) == (Outcome.INCONCLUSIVE, "could not ask")
    # A deciding alert the selector matched fails, whatever else is known about the selector.
    assert judge_metrics.alerts([HIGH_ERRORS], None, ["critical"], [], {}, selector_reach=(None, "?")).outcome is (
        Outcome.FAILED
    )
