"""Can a selector match anything: alert selectors against alerting rules, and why a metric query was empty."""

from __future__ import annotations

import pytest

from deploycheck.kinds.metrics.alert_selectors import reach_of
from deploycheck.kinds.metrics.empty_answers import nothing_matched, scrape_interval, too_early
from deploycheck.kinds.metrics.exposition import parse_matchers
from deploycheck.kinds.metrics.session import AlertRule, Target

# A rule that aggregates by job: its firing alert shows the labels its expression keeps.
BY_JOB = AlertRule("HighErrorRate", {"severity": "critical"}, "firing", ({"alertname": "HighErrorRate",
                   "severity": "critical", "job": "orders"},))  # fmt: skip
QUIET = AlertRule("Slow", {"severity": "warning"}, "inactive")
OWNED = AlertRule("PaymentsDown", {"severity": "critical", "service": "payments"}, "inactive")


def reach(selector: str, rules: list[AlertRule], series_found: bool | None = None):
    matchers = parse_matchers(selector)
    asked = [m for m in matchers if m.label not in ("alertname", "alertstate")]
    return reach_of(matchers, rules, series_found, asked)


def test_a_label_the_firing_alerts_lack_cannot_match_whatever_the_series_carry():
    found = reach('service="orders"', [BY_JOB], series_found=True)
    assert found.matches is False
    assert found.how == "none of the 1 alerting rules gives an alert its labels (theirs: alertname, job, severity)"


def test_a_firing_alert_that_matches_settles_it():
    assert reach('job="orders"', [BY_JOB]).matches is True
    assert reach('job="orders"', [BY_JOB]).how == "the firing alert HighErrorRate matches it"


def test_the_label_kept_with_another_value_depends_on_the_series():
    assert reach('job="api"', [BY_JOB], series_found=True).matches is True
    assert reach('job="api"', [BY_JOB], series_found=False).matches is False
    assert reach('job="api"', [BY_JOB], series_found=None).matches is None  # could not be asked: not a pass


def test_a_rule_own_labels_decide_the_matchers_on_them():
    assert reach('service="payments"', [OWNED]).matches is True
    assert reach('service="orders"', [OWNED], series_found=True).matches is False  # its own label says payments
    assert reach('alertname="PaymentsDown"', [OWNED]).matches is True
    assert reach('alertname=~"Orders.*"', [OWNED, BY_JOB], series_found=True).matches is False


def test_an_inactive_rule_may_keep_labels_that_series_carry():
    assert reach('service="orders"', [QUIET], series_found=True).matches is True
    assert reach('service="orders"', [QUIET], series_found=False).matches is False
    # Only part of the selector was asked of the series: "none" is not shown, so not a definite no.
    assert reach('service="orders", severity="warning"', [QUIET], series_found=False).matches is None


def test_no_alerting_rule_means_nothing_can_fire():
    found = reach('job="orders"', [], series_found=True)
    assert (found.matches, found.how) == (False, "there are no alerting rules, so no alert can fire")


def test_a_matcher_that_accepts_a_missing_label_does_not_need_it():
    assert reach('service!="payments"', [BY_JOB]).matches is True
    assert reach('job=~".*"', [QUIET]).matches is True  # nothing to ask of the series


FIVE = Target({"job": "orders", "service": "orders"}, 5.0)
MINUTE = Target({"job": "node"}, 60.0)


def test_the_scrape_interval_is_that_of_the_matching_targets_else_the_shortest():
    assert scrape_interval([FIVE, MINUTE], 'job="orders"') == (5.0, "")
    assert scrape_interval([FIVE, MINUTE], 'route="/v1"') == (5.0, " (at the shortest interval of its targets)")
    assert scrape_interval([Target({}, None)], 'job="orders"') is None


def test_too_early_says_when_to_judge_and_a_short_window_says_how_long():
    deployed = 1_800_000_000.0
    assert too_early(9.7, (5.0, ""), deployed, None) == (
        "too early: 9.7 s since the deploy, Prometheus scrapes every 5 s; judge after 2027-01-15T08:00:10Z "
        "(two scrapes after the deploy)"
    )
    assert too_early(10.0, (5.0, ""), deployed, None) is None
    assert too_early(30.0, (60.0, ""), None, "metrics.window") == (
        "the window of 30 s (`metrics.window`) holds fewer than two scrapes: Prometheus scrapes every 60 s; "
        "make it at least 120s"
    )


@pytest.mark.parametrize(
    ("names", "said"),
    [
        ([], 'the selector {job="x"} matches no series in Prometheus at http://p (in the hour before the window ends)'),
        (
            ["up", "process_cpu_seconds_total"],
            'no http_requests_total series match {job="x"} over 5m in Prometheus at '
            "http://p (the selector matches series of process_cpu_seconds_total, up)",
        ),
        (None, 'no http_requests_total series match {job="x"} over 5m in Prometheus at http://p'),
    ],
)
def test_nothing_matched_tells_a_selector_that_matches_nothing_from_a_missing_metric(names, said):
    assert nothing_matched('job="x"', names, "http_requests_total", "http://p", "5m") == said


def test_validate_warns_about_an_alert_selector_left_to_the_default(tmp_path, capsys):
    from deploycheck.__main__ import validate_files

    (tmp_path / "staging.yaml").write_text(
        "environment: staging\n"
        "prometheus: {url: 'http://prometheus:9090'}\n"
        "services:\n"
        "  orders: {url: 'http://orders'}\n"
        "  payments: {url: 'http://payments', alerts: {selector: 'job=\"payments\"'}}\n"
        "  cache:\n"
        "    url: 'http://cache'\n"
        "    alerts: {selector: 'job=\"cache\"'}\n"
        "    resources: {max_memory: 1Gi, memory_metric: container_memory_working_set_bytes}\n"
    )
    assert validate_files(tmp_path, ["staging"]) == 0  # a warning, not an error
    err = capsys.readouterr().err
    assert "services.orders.alerts.selector is not set" in err
    assert "e.g. alerts: {selector: 'job=\"orders\"'}" in err
    assert "payments" not in err
    assert "services.cache.resources reads cAdvisor's container series" in err and "give resources.selector" in err
