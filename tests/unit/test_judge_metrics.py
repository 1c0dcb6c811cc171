from __future__ import annotations

import math

import pytest

from deploycheck import judge_metrics
from deploycheck.findings import Outcome
from deploycheck.judge_metrics import Alert
from deploycheck.metrics import Traffic

SOURCE = {"kind": "prometheus", "queries": {"p95": "histogram_quantile(0.95, ...)"}}
BASE_SOURCE = {"kind": "prometheus", "queries": {"p95": "histogram_quantile(0.95, ...) @ deploy"}}


def traffic(requests=1532.0, errors=35.0, p95_s=0.142, window="5m", problem=None, source=None, elapsed_ms=12.5):
    return Traffic(requests, errors, p95_s, window, SOURCE if source is None else source, elapsed_ms, problem)


def before(requests=4210.0, errors=21.0, p95_s=0.140, window="15m", **others):
    return traffic(requests, errors, p95_s, window, source=BASE_SOURCE, elapsed_ms=9.0, **others)


# ---------------------------------------------------------------------------------------------------------------
# latency.p95


def test_latency_within_the_limit_passes_with_its_evidence():
    finding = judge_metrics.latency(traffic(p95_s=0.1423), 200, 100)
    assert finding.outcome is Outcome.PASSED
    assert finding.message == "P95 142.3 ms over 5m, limit 200 ms (1,532 requests)"
    assert (finding.observed, finding.limit, finding.unit, finding.samples) == (142.3, 200, "ms", 1532)
    assert (finding.window, finding.source, finding.duration_ms, finding.check) == ("5m", SOURCE, 12.5, "")


def test_latency_over_the_limit_fails():
    finding = judge_metrics.latency(traffic(p95_s=0.412), 200, 100)
    assert finding.outcome is Outcome.FAILED
    assert finding.message == "P95 412 ms over 5m, limit 200 ms (1,532 requests)"


def test_latency_is_judged_as_the_message_shows_it():
    assert judge_metrics.latency(traffic(p95_s=0.2), 200, 100).outcome is Outcome.PASSED
    at_limit = judge_metrics.latency(traffic(p95_s=0.20004), 200, 100)  # 200.04 ms shows as 200 ms
    assert (at_limit.outcome, at_limit.observed) == (Outcome.PASSED, 200.0)
    above = judge_metrics.latency(traffic(p95_s=0.20006), 200, 100)
    assert above.outcome is Outcome.FAILED and "P95 200.1 ms" in above.message
    fast = judge_metrics.latency(traffic(p95_s=0.000456), 200, 100)
    assert fast.observed == 0.456 and fast.message.startswith("P95 0.456 ms")


def test_latency_with_too_few_requests_is_inconclusive_and_says_how_many():
    finding = judge_metrics.latency(traffic(requests=12, p95_s=0.412), 200, 100)
    assert finding.outcome is Outcome.INCONCLUSIVE
    assert finding.message == "only 12 requests over 5m, 100 needed to judge (P95 412 ms, limit 200 ms)"
    assert finding.samples == 12


@pytest.mark.parametrize(
    ("figures", "message"),
    [
        ({"p95_s": math.nan}, "P95 is NaN over 5m: no latency observations"),
        ({"p95_s": math.inf}, "P95 is +Inf over 5m"),
        ({"p95_s": None}, "no P95 over 5m"),
        ({"requests": None}, "no request count over 5m"),
        ({"requests": math.nan}, "no request count over 5m (got NaN)"),
        ({"requests": 0, "p95_s": math.nan}, "no requests over 5m, 100 needed to judge"),
        ({"problem": "Prometheus unreachable: connection refused"}, "no figures over 5m: Prometheus unreachable: "),
        ({"problem": "<html><title>502 Bad Gateway</title></html>"}, "no figures over 5m: 502 Bad Gateway"),
    ],
)
def test_latency_without_finite_evidence_is_inconclusive(figures, message):
    finding = judge_metrics.latency(traffic(**figures), 200, 100)
    assert finding.outcome is Outcome.INCONCLUSIVE
    assert finding.message.startswith(message)


def test_a_figure_the_probe_could_not_measure_is_inconclusive_with_its_reason():
    missing = {**SOURCE, "missing": {"p95": "the service exposes no http_request_duration_seconds_bucket{} series"}}
    finding = judge_metrics.latency(traffic(p95_s=math.nan, source=missing), 200, 100)
    assert finding.message == (
        "P95 is NaN over 5m: the service exposes no http_request_duration_seconds_bucket{} series"
    )


# ---------------------------------------------------------------------------------------------------------------
# errors.rate


def test_error_rate_over_the_limit_fails_in_percent():
    finding = judge_metrics.error_rate(traffic(errors=35), 0.01, 100)
    assert finding.outcome is Outcome.FAILED
    assert finding.message == "error rate 2.285 % over 5m (35 of 1,532 requests), limit 1 %"
    assert (finding.observed, finding.limit, finding.unit, finding.samples) == (0.02285, 0.01, "ratio", 1532)


def test_error_rate_within_the_limit_passes():
    finding = judge_metrics.error_rate(traffic(errors=15), 0.01, 100)
    assert finding.outcome is Outcome.PASSED
    assert finding.message == "error rate 0.979 % over 5m (15 of 1,532 requests), limit 1 %"
    none = judge_metrics.error_rate(traffic(errors=0), 0.01, 100)
    assert none.outcome is Outcome.PASSED and none.message.startswith("error rate 0 % over 5m (0 of 1,532")
    at_limit = judge_metrics.error_rate(traffic(requests=1000, errors=10), 0.01, 100)
    assert at_limit.outcome is Outcome.PASSED


@pytest.mark.parametrize(
    ("figures", "message"),
    [
        ({"requests": 40, "errors": 40}, "only 40 requests over 5m, 100 needed to judge (error rate 100 %, limit 1 %)"),
        ({"errors": None}, "no error count over 5m"),
        ({"errors": math.inf}, "no error count over 5m (got +Inf)"),
        ({"errors": 2000}, "2,000 errors but only 1,532 requests over 5m"),
        ({"requests": 0, "errors": 0}, "no requests over 5m"),
        ({"problem": "no answer within 10s"}, "no figures over 5m: no answer within 10s"),
    ],
)
def test_error_rate_without_finite_evidence_is_inconclusive(figures, message):
    finding = judge_metrics.error_rate(traffic(**figures), 0.01, 100)
    assert finding.outcome is Outcome.INCONCLUSIVE
    assert finding.message.startswith(message)


def test_an_unknown_error_count_quotes_why():
    source = {"kind": "scrape", "missing": {"errors": "no http_requests_total series has a 'status' label"}}
    finding = judge_metrics.error_rate(traffic(errors=None, source=source), 0.01, 100)
    assert finding.message == "no error count over 5m: no http_requests_total series has a 'status' label"


def test_no_minimum_still_needs_a_request():
    finding = judge_metrics.error_rate(traffic(requests=0, errors=0), 0.01, 0)
    assert (finding.outcome, finding.message) == (Outcome.INCONCLUSIVE, "no requests over 5m")


# ---------------------------------------------------------------------------------------------------------------
# latency.p95_vs_baseline


def test_latency_rise_past_the_allowed_increase_fails_with_both_windows():
    finding = judge_metrics.latency_vs_baseline(traffic(p95_s=0.3123), before(p95_s=0.1401), 100, 100, None)
    assert finding.outcome is Outcome.FAILED
    assert finding.message == (
        "P95 312.3 ms over 5m, baseline 140.1 ms over 15m: +172.2 ms, limit +100 ms "
        "(1,532 requests now, 4,210 requests before)"
    )
    assert (finding.observed, finding.baseline, finding.limit, finding.unit) == (312.3, 140.1, 240.1, "ms")
    assert finding.source == {"current": SOURCE, "baseline": BASE_SOURCE}
    assert (finding.window, finding.samples, finding.duration_ms) == ("5m; baseline 15m", 1532, 12.5)


def test_latency_rise_within_the_allowed_increase_passes():
    finding = judge_metrics.latency_vs_baseline(traffic(p95_s=0.240), before(p95_s=0.140), 100, 100, None)
    assert finding.outcome is Outcome.PASSED and ": +100 ms, limit +100 ms" in finding.message
    faster = judge_metrics.latency_vs_baseline(traffic(p95_s=0.090), before(p95_s=0.140), 100, 100, None)
    assert faster.outcome is Outcome.PASSED and ": -50 ms, limit +100 ms" in faster.message


def test_latency_at_or_below_the_floor_is_never_a_regression():
    finding = judge_metrics.latency_vs_baseline(traffic(p95_s=0.045), before(p95_s=0.010), 20, 100, 50)
    assert finding.outcome is Outcome.PASSED
    assert "+35 ms, over the +20 ms allowed but within the 50 ms floor" in finding.message
    assert finding.limit == 50
    above = judge_metrics.latency_vs_baseline(traffic(p95_s=0.051), before(p95_s=0.010), 20, 100, 50)
    assert above.outcome is Outcome.FAILED and above.limit == 50


@pytest.mark.parametrize(
    ("now", "then", "message"),
    [
        ({"requests": 20}, {}, "only 20 requests over 5m, 100 needed to judge"),
        ({}, {"requests": 50}, "baseline: only 50 requests over 15m, 100 needed to judge"),
        ({}, {"p95_s": math.nan}, "baseline: P95 is NaN over 15m"),
        ({}, {"problem": "no deploy time: give --deployed-at"}, "baseline: no figures over 15m: no deploy time"),
        ({"p95_s": None}, {}, "no P95 over 5m"),
    ],
)
def test_latency_vs_baseline_needs_figures_on_both_sides(now, then, message):
    finding = judge_metrics.latency_vs_baseline(traffic(**now), before(**then), 100, 100, None)
    assert finding.outcome is Outcome.INCONCLUSIVE and finding.limit is None
    assert finding.message.startswith(message)


# ---------------------------------------------------------------------------------------------------------------
# errors.rate_vs_baseline


def rates(now_errors, then_errors, requests=10_000.0):
    return traffic(requests=requests, errors=now_errors), before(requests=requests, errors=then_errors)


def test_a_doubled_tiny_error_rate_is_no_regression_under_the_default_floor():
    # The case: 0.01 % -> 0.02 % is +100 %, but no regression.
    finding = judge_metrics.error_rate_vs_baseline(*rates(2, 1), 0.5, 100, None)
    assert finding.outcome is Outcome.PASSED
    assert finding.message == (
        "error rate 0.02 % over 5m (2 of 10,000 requests), baseline 0.01 % over 15m (1 of 10,000 requests): "
        "+100 %, over the +50 % allowed but +0.01 points is within the 0.01 % floor"
    )
    assert (finding.observed, finding.baseline, finding.limit, finding.unit) == (0.0002, 0.0001, 0.0002, "ratio")


def test_a_relative_rise_past_the_allowed_one_fails_above_the_floor():
    finding = judge_metrics.error_rate_vs_baseline(*rates(200, 100), 0.5, 100, None)
    assert finding.outcome is Outcome.FAILED
    assert finding.message.endswith("): +100 %, limit +50 %")
    assert (finding.observed, finding.baseline, finding.limit) == (0.02, 0.01, 0.015)
    assert finding.source == {"current": SOURCE, "baseline": BASE_SOURCE}


def test_a_relative_rise_within_the_allowed_one_passes():
    assert judge_metrics.error_rate_vs_baseline(*rates(140, 100), 0.5, 100, None).outcome is Outcome.PASSED
    assert judge_metrics.error_rate_vs_baseline(*rates(150, 100), 0.5, 100, None).outcome is Outcome.PASSED
    assert judge_metrics.error_rate_vs_baseline(*rates(151, 100), 0.5, 100, None).outcome is Outcome.FAILED
    assert judge_metrics.error_rate_vs_baseline(*rates(50, 100), 0.5, 100, None).outcome is Outcome.PASSED


def test_a_rise_from_nothing_fails_only_past_the_floor():
    rise = judge_metrics.error_rate_vs_baseline(*rates(5, 0), 0.5, 100, None)
    assert rise.outcome is Outcome.FAILED
    assert rise.message.endswith("(0 of 10,000 requests): a rise from nothing, past the 0.01 % floor")
    assert rise.limit == 0.0001
    within = judge_metrics.error_rate_vs_baseline(*rates(1, 0), 0.5, 100, None)
    assert within.outcome is Outcome.PASSED and within.message.endswith("a rise from nothing, within the 0.01 % floor")
    clean = judge_metrics.error_rate_vs_baseline(*rates(0, 0), 0.5, 100, None)
    assert clean.outcome is Outcome.PASSED and clean.message.endswith("no errors before or now")


def test_a_configured_floor_replaces_the_default():
    # 0.1 % -> 0.3 % is +200 % but only 0.2 points: within a 0.5 % floor, past a 0.1 % one.
    assert judge_metrics.error_rate_vs_baseline(*rates(30, 10), 0.5, 100, 0.005).outcome is Outcome.PASSED
    assert judge_metrics.error_rate_vs_baseline(*rates(30, 10), 0.5, 100, 0.001).outcome is Outcome.FAILED
    # a floor of 0: every relative rise past the allowed one counts
    assert judge_metrics.error_rate_vs_baseline(*rates(2, 1), 0.5, 100, 0.0).outcome is Outcome.FAILED


@pytest.mark.parametrize(
    ("now", "then", "message"),
    [
        ({"requests": 99}, {}, "only 99 requests over 5m, 100 needed to judge"),
        ({}, {"requests": 99}, "baseline: only 99 requests over 15m, 100 needed to judge"),
        ({}, {"errors": None}, "baseline: no error count over 15m"),
        ({"problem": "Prometheus answered 503"}, {}, "no figures over 5m: Prometheus answered 503"),
    ],
)
def test_error_rate_vs_baseline_needs_figures_on_both_sides(now, then, message):
    finding = judge_metrics.error_rate_vs_baseline(traffic(**now), before(**then), 0.5, 100, None)
    assert finding.outcome is Outcome.INCONCLUSIVE and finding.limit is None
    assert finding.message.startswith(message)


# ---------------------------------------------------------------------------------------------------------------
# alerts.no_critical_firing

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
    finding = judge_metrics.alerts([HIGH_ERRORS, WATCHDOG], None, ["critical"], [], ALERT_SOURCE, elapsed_ms=8.0)
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
    finding = judge_metrics.alerts([WATCHDOG, DISK], None, ["critical"], [], ALERT_SOURCE)
    assert finding.outcome is Outcome.PASSED
    assert finding.message == "no alert of severity critical firing (2 other alerts firing: DiskFilling, Watchdog)"
    assert finding.observed == []
    quiet = judge_metrics.alerts([], None, ["critical"], [], ALERT_SOURCE)
    assert (quiet.outcome, quiet.message) == (Outcome.PASSED, "no alert of severity critical firing")


def test_severities_decide_without_case_and_ignored_names_never_do():
    shouting = Alert("HighErrorRate", {}, "CRITICAL", None)
    assert judge_metrics.alerts([shouting], None, ["critical"], [], {}).outcome is Outcome.FAILED
    assert judge_metrics.alerts([HIGH_ERRORS], None, ["critical"], ["HighErrorRate"], {}).outcome is Outcome.PASSED
    paging = judge_metrics.alerts([DISK, HIGH_ERRORS], None, ["page", "warning"], [], {})
    assert paging.outcome is Outcome.FAILED and paging.message.startswith("1 alert of severity page or warning")
    assert judge_metrics.alerts([Alert("NoSeverity", {}, None, None)], None, ["critical"], [], {}).outcome is (
        Outcome.PASSED
    )


@pytest.mark.parametrize(
    ("firing", "problem", "message"),
    [
        (None, "connection refused", "firing alerts could not be read: connection refused"),
        ([], "Alertmanager answered 500", "firing alerts could not be read: Alertmanager answered 500"),
        (None, None, "firing alerts could not be read: no answer"),
    ],
)
def test_alerts_that_could_not_be_read_are_inconclusive_never_a_pass(firing, problem, message):
    finding = judge_metrics.alerts(firing, problem, ["critical"], [], ALERT_SOURCE)
    assert (finding.outcome, finding.message) == (Outcome.INCONCLUSIVE, message)


def test_many_alerts_keep_the_message_one_short_line_and_observed_complete():
    noisy = [
        Alert(f"Alert{i}\nsecond line", {f"label{j}": "v" * 500 for j in range(8)}, "critical", None) for i in range(30)
    ]
    finding = judge_metrics.alerts(noisy, None, ["critical"], [], {})
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
    findings = [
        judge_metrics.latency(bad, 10_000, 100),
        judge_metrics.error_rate(bad, 1.0, 100),
        judge_metrics.latency_vs_baseline(bad, good, 10_000, 100, 10_000),
        judge_metrics.latency_vs_baseline(good, bad, 10_000, 100, 10_000),
        judge_metrics.error_rate_vs_baseline(bad, good, 1.0, 100, 1.0),
        judge_metrics.error_rate_vs_baseline(good, bad, 1.0, 100, 1.0),
    ]
    assert [finding.outcome for finding in findings] == [Outcome.INCONCLUSIVE] * len(findings)
    assert all(finding.message and "\n" not in finding.message for finding in findings)
