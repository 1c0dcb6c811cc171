from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from deploycheck.kinds.metrics.config import Metrics
from deploycheck.kinds.metrics.exposition import Sample, Snapshot, parse_exposition
from deploycheck.kinds.metrics.traffic import (
    counter_increase,
    histogram_increase,
    quantile_from_buckets,
    traffic_from_scrapes,
)

INF = math.inf
NAN = math.nan

# ---------------------------------------------------------------------------------------------------------------
# histogram_quantile: cases ported from Prometheus's own tests, promql/promqltest/testdata/histograms.test.
# Its series are loaded as `0+Nx10` every 5m, so at 50m each bucket holds 10 x N; rates over 10m are the same
# counts scaled, which no quantile sees. Upstream compares with a relative tolerance of 1e-6.

# testhistogram{start="positive"} and {start="negative"}
POSITIVE = {0.1: 50, 0.2: 70, 1.0: 110, INF: 120}
NEGATIVE = {-0.2: 10, -0.1: 20, 0.3: 20, INF: 30}
# testhistogram3, without observations in the +Inf bucket
POSITIVE_3 = {0.0: 0, 0.1: 50, 0.2: 70, 1.0: 110, INF: 110}
NEGATIVE_3 = {-0.25: 0, -0.2: 10, -0.1: 20, 0.3: 20, INF: 20}
# testhistogram2 at 7m: q(1/6), q(1/2), q(5/6) each in the middle of a bucket
MIDDLES = {0.0: 0, 2.0: 1, 4.0: 2, 6.0: 3, INF: 3}
# sum by (le) (rate(request_duration_seconds_bucket[10m])) over the two jobs and two instances, per step
AGGREGATED = {0.1: 1 + 2 + 3 + 4, 0.2: 3 + 5 + 4 + 7, INF: 4 + 6 + 6 + 9}
# nonmonotonic_bucket: 0.1 > 1 and 100 < 10, 1000 > +Inf
NONMONOTONIC = {0.1: 20, 1.0: 10, 10.0: 50, 100.0: 40, 1000.0: 90, INF: 80}

UPSTREAM_CASES = [
    # quantile in the lowest bucket; the lowest bucket starts at 0, or is its bound when that is <= 0
    ("testhistogram positive q=0", 0, POSITIVE, 0.0),
    ("testhistogram negative q=0", 0, NEGATIVE, -0.2),
    # quantile in the highest bucket: the highest finite bound
    ("testhistogram positive q=1", 1, POSITIVE, 1.0),
    ("testhistogram negative q=1", 1, NEGATIVE, 0.3),
    ("testhistogram positive q=0.2", 0.2, POSITIVE, 0.048),
    ("testhistogram negative q=0.2", 0.2, NEGATIVE, -0.2),
    ("testhistogram positive q=0.5", 0.5, POSITIVE, 0.15),
    ("testhistogram negative q=0.5", 0.5, NEGATIVE, -0.15),
    ("testhistogram positive q=0.8", 0.8, POSITIVE, 0.72),
    ("testhistogram negative q=0.8", 0.8, NEGATIVE, 0.3),
    ("testhistogram3 positive q=0", 0, POSITIVE_3, 0.0),
    ("testhistogram3 negative q=0", 0, NEGATIVE_3, -0.25),
    ("testhistogram3 positive q=0.25", 0.25, POSITIVE_3, 0.055),
    ("testhistogram3 negative q=0.25", 0.25, NEGATIVE_3, -0.225),
    ("testhistogram3 positive q=0.5", 0.5, POSITIVE_3, 0.125),
    ("testhistogram3 negative q=0.5", 0.5, NEGATIVE_3, -0.2),
    ("testhistogram3 positive q=0.75", 0.75, POSITIVE_3, 0.45),
    ("testhistogram3 negative q=0.75", 0.75, NEGATIVE_3, -0.15),
    ("testhistogram3 positive q=1", 1, POSITIVE_3, 1.0),
    ("testhistogram3 negative q=1", 1, NEGATIVE_3, -0.1),
    ("testhistogram2 q=1/6", 1 / 6, MIDDLES, 1.0),
    ("testhistogram2 q=1/2", 0.5, MIDDLES, 3.0),
    ("testhistogram2 q=5/6", 5 / 6, MIDDLES, 5.0),
    ("aggregated q=0.3", 0.3, AGGREGATED, 0.075),
    ("aggregated q=0.5", 0.5, AGGREGATED, 0.1277777777777778),
    ("job1 ins1 q=0.3", 0.3, {0.1: 1, 0.2: 3, INF: 4}, 0.11),
    ("job1 ins1 q=0.5", 0.5, {0.1: 1, 0.2: 3, INF: 4}, 0.15),
    ("job1 ins2 q=0.3", 0.3, {0.1: 2, 0.2: 5, INF: 6}, 0.09),
    ("job1 ins2 q=0.5", 0.5, {0.1: 2, 0.2: 5, INF: 6}, 0.13333333333333333),
    ("job2 ins1 q=0.3", 0.3, {0.1: 3, 0.2: 4, INF: 6}, 0.06),
    ("job2 ins1 q=0.5", 0.5, {0.1: 3, 0.2: 4, INF: 6}, 0.1),
    ("job2 ins2 q=0.3", 0.3, {0.1: 4, 0.2: 7, INF: 9}, 0.0675),
    ("job2 ins2 q=0.5", 0.5, {0.1: 4, 0.2: 7, INF: 9}, 0.11666666666666667),
    ("nonmonotonic q=0.01", 0.01, NONMONOTONIC, 0.0045),
    ("nonmonotonic q=0.5", 0.5, NONMONOTONIC, 8.5),
    ("nonmonotonic q=0.99", 0.99, NONMONOTONIC, 979.75),
    # out of range or invalid quantiles
    ("q < 0", -0.1, POSITIVE, -INF),
    ("q > 1", 1.01, POSITIVE, INF),
    ("q NaN", NAN, POSITIVE, NAN),
    # no observations: empty_bucket, and const_histogram whose rate is 0 in every bucket
    ("empty_bucket", 0.2, {0.1: 0, 0.2: 0, INF: 0}, NAN),
    ("const_histogram rate", 1.0, {0.0: 0, 1.0: 0, 2.0: 0, INF: 0}, NAN),
]


@pytest.mark.parametrize(
    ("q", "buckets", "expected"), [case[1:] for case in UPSTREAM_CASES], ids=[c[0] for c in UPSTREAM_CASES]
)
def test_quantile_matches_prometheus_testdata(q, buckets, expected):
    assert quantile_from_buckets(q, buckets) == pytest.approx(expected, rel=1e-6, nan_ok=True)


# Cases of TestBucketQuantile_ForcedMonotonicity (promql/quantile_test.go): bucket counts that differ by a float
# artefact (relative delta <= 1e-12) are treated as equal in either direction; upstream checks within 1e-12.
SIMPLE = {10.0: 10, 15.0: 15, 20.0: 15, 30.0: 15, INF: 15}
SIMPLE_IMPRECISE = {10.0: 10, 15.0: 15, 20.0: 15.00000000001, 30.0: 15, INF: 15}
REAL_2 = {
    0.005: 9.6,
    0.01: 9.688888889,
    0.025: 9.755555556,
    0.05: 9.844444444,
    0.1: 9.888888889,
    0.25: 9.888888889,
    0.5: 9.888888889,
    1.0: 9.888888889,
    2.5: 9.888888889,
    5.0: 9.888888889,
    10.0: 9.888888889,
    25.0: 9.888888889,
    50.0: 9.888888889,
    100.0: 9.888888889,
    INF: 9.888888889,
}
REAL_2_IMPRECISE = {**REAL_2, 10.0: 9.888888889001, 50.0: 9.888888888999}
REAL_1_IMPRECISE = {
    1.0: 6454661.3014166225,
    5.0: 8339611.2001912957,
    10.0: 14118319.2444762159,
    25.0: 14130031.5272856504,
    50.0: 46001270.3030008227,
    64.0: 46008473.8585563824,
    80.0: 46008473.8585563898,
    100.0: 46008473.8585563824,
    250.0: 46008473.8585563824,
    1000.0: 46008473.8585563898,
    INF: 46008473.8585563824,
}


@pytest.mark.parametrize("buckets", [SIMPLE, SIMPLE_IMPRECISE], ids=["monotonic", "imprecise"])
@pytest.mark.parametrize(("q", "expected"), [(1, 15.0), (0.99, 14.85), (0.9, 13.5), (0.5, 7.5)])
def test_quantile_ignores_float_artefacts_between_buckets(buckets, q, expected):
    # Without the tolerance, the imprecise 15.00000000001 would make q=1 land in the 15..20 bucket: 20, not 15.
    assert quantile_from_buckets(q, buckets) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("buckets", "q", "expected"),
    [
        (REAL_1_IMPRECISE, 1, 64.0),
        (REAL_1_IMPRECISE, 0.99, 49.64475715376406),
        (REAL_1_IMPRECISE, 0.9, 46.39671690938454),
        (REAL_1_IMPRECISE, 0.5, 31.96098248992002),
        (REAL_2, 1, 0.1),
        (REAL_2, 0.99, 0.03468750000281261),
        (REAL_2, 0.9, 0.00463541666671875),
        (REAL_2, 0.5, 0.0025752314815104174),
        (REAL_2_IMPRECISE, 1, 0.1),
        (REAL_2_IMPRECISE, 0.99, 0.03468750000281261),
        (REAL_2_IMPRECISE, 0.5, 0.0025752314815104174),
    ],
)
def test_quantile_of_upstream_real_examples(buckets, q, expected):
    assert quantile_from_buckets(q, buckets) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    "buckets",
    [
        {},
        {0.1: 5, 0.2: 7},  # no +Inf bucket
        {INF: 7},  # fewer than two buckets
        {NAN: 1, INF: 2},  # a NaN bound: undefined upstream
    ],
    ids=["none", "no +Inf", "one bucket", "NaN bound"],
)
def test_quantile_without_a_usable_histogram_is_nan(buckets):
    assert math.isnan(quantile_from_buckets(0.95, buckets))


def test_quantile_in_the_inf_bucket_is_the_highest_finite_bound():
    assert quantile_from_buckets(0.95, {0.1: 1, 0.5: 2, INF: 100}) == 0.5


def test_quantile_does_as_upstream_arithmetic_does_in_an_empty_lowest_bucket():
    # rank 0 lands in an empty bucket starting at 0: 0 + 0.1 * (0/0), NaN in Go as here.
    assert math.isnan(quantile_from_buckets(0, {0.1: 0, INF: 4}))


def test_quantile_does_not_change_its_input():
    buckets = dict(NONMONOTONIC)
    quantile_from_buckets(0.5, buckets)
    assert buckets == NONMONOTONIC


# ---------------------------------------------------------------------------------------------------------------
# Increases between two scrapes


def snapshot(*samples: tuple[str, dict[str, str], float], at: float = 0.0) -> Snapshot:
    return Snapshot(tuple(Sample(name, labels, value) for name, labels, value in samples), at)


def requests(service: str, status: str, value: float) -> tuple[str, dict[str, str], float]:
    return ("http_requests_total", {"service": service, "status": status}, value)


def test_counter_increase_sums_over_label_sets():
    first = snapshot(requests("api", "200", 100), requests("api", "500", 3))
    second = snapshot(requests("api", "200", 160), requests("api", "500", 5))
    assert counter_increase(first, second, "http_requests_total") == 62


def test_a_reset_counter_counts_its_second_value():
    first = snapshot(requests("api", "200", 1000), requests("api", "500", 10))
    second = snapshot(requests("api", "200", 40), requests("api", "500", 12))  # the process restarted
    assert counter_increase(first, second, "http_requests_total") == 40 + 2


def test_a_new_series_counts_from_zero_and_a_vanished_one_not_at_all():
    first = snapshot(requests("api", "200", 100), requests("api", "404", 7))
    second = snapshot(requests("api", "200", 110), requests("api", "503", 4))
    assert counter_increase(first, second, "http_requests_total") == 10 + 4


def test_counter_increase_applies_promql_matchers():
    first = snapshot(requests("api", "200", 100), requests("api", "503", 1), requests("web", "500", 50))
    second = snapshot(requests("api", "200", 150), requests("api", "503", 4), requests("web", "500", 90))
    assert counter_increase(first, second, "http_requests_total", 'service="api"') == 53
    assert counter_increase(first, second, "http_requests_total", '{service="api", status=~"5.."}') == 3
    assert counter_increase(first, second, "http_requests_total", 'status!~"5.."') == 50
    assert counter_increase(first, second, "http_requests_total", 'service="none"') == 0
    assert counter_increase(first, second, "other_total") == 0


def test_a_nan_counter_makes_the_increase_nan():
    first = snapshot(requests("api", "200", NAN))
    second = snapshot(requests("api", "200", 5))
    assert math.isnan(counter_increase(first, second, "http_requests_total"))


def bucket(le: str, value: float, **labels: str) -> tuple[str, dict[str, str], float]:
    return ("latency_seconds_bucket", {"le": le, **labels}, value)


def test_histogram_increase_sums_each_bound_over_the_other_labels():
    first = snapshot(
        bucket("0.1", 10, instance="a"), bucket("+Inf", 20, instance="a"),
        bucket("0.1", 5, instance="b"), bucket("+Inf", 5, instance="b"),
    )  # fmt: skip
    second = snapshot(
        bucket("0.1", 15, instance="a"), bucket("+Inf", 30, instance="a"),
        bucket("0.1", 6, instance="b"), bucket("+Inf", 8, instance="b"),
    )  # fmt: skip
    assert histogram_increase(first, second, "latency_seconds") == {0.1: 6, INF: 13}
    assert histogram_increase(first, second, "latency_seconds", 'instance="b"') == {0.1: 1, INF: 3}


def test_histogram_increase_resets_each_bucket_series_on_its_own():
    first = snapshot(bucket("0.1", 90), bucket("+Inf", 100))
    second = snapshot(bucket("0.1", 4), bucket("+Inf", 5))  # restarted: both went down
    assert histogram_increase(first, second, "latency_seconds") == {0.1: 4, INF: 5}


def test_spellings_of_one_bound_add_up_and_malformed_bounds_are_left_out():
    # Upstream's mixed_bucket: "0.2", "2e-1" and "2.0e-1" are one bound; "+inf" and "+Inf" too.
    second = snapshot(
        bucket("0.1", 1), bucket("0.2", 1), bucket("2e-1", 1), bucket("2.0e-1", 1), bucket("+Inf", 4),
        bucket("+inf", 0, instance="b"), ("latency_seconds_bucket", {}, 9), bucket("fast", 9), bucket(" 1", 9),
        bucket("1_0", 9), bucket("NaN", 9),
    )  # fmt: skip
    buckets = histogram_increase(snapshot(), second, "latency_seconds")
    assert buckets == {0.1: 1, 0.2: 3, INF: 4}
    assert quantile_from_buckets(0.5, buckets) == pytest.approx(0.15)
    assert quantile_from_buckets(0.75, buckets) == pytest.approx(0.2)
    assert quantile_from_buckets(1, buckets) == pytest.approx(0.2)


# ---------------------------------------------------------------------------------------------------------------
# Traffic from two real expositions, written by prometheus_client as a service writes them


class Service:
    """A service's own metrics, in a registry of its own."""

    def __init__(self, status_label: str = "status") -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests", "requests", ["service", status_label], registry=self.registry
        )  # exposed as http_requests_total
        self.latency = Histogram(
            "http_request_duration_seconds", "latency", ["service"], registry=self.registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1.0),
        )  # fmt: skip

    def serve(self, count: int, status: str, seconds: float, service: str = "api") -> None:
        for _ in range(count):
            self.requests.labels(service, status).inc()
            self.latency.labels(service).observe(seconds)

    def scrape(self, at: float) -> Snapshot:
        return parse_exposition(generate_latest(self.registry).decode(), at)


URL = "http://127.0.0.1:8001/metrics"


def test_traffic_from_scrapes_counts_requests_errors_and_the_p95():
    service = Service()
    service.serve(500, "200", 0.02, service="api")
    service.serve(100, "500", 0.4, service="web")  # before the first scrape, and another service: not counted
    first = service.scrape(at=1000.0)
    service.serve(90, "200", 0.03)
    service.serve(6, "503", 0.07)
    service.serve(4, "200", 0.3)
    second = service.scrape(at=1004.0)

    traffic = traffic_from_scrapes(first, second, Metrics(selector='service="api"'), URL, elapsed_ms=4012.5)

    assert (traffic.requests, traffic.errors) == (100, 6)
    # 100 observations: 90 in (0, 0.05], 6 in (0.05, 0.1], 4 in (0.25, 0.5]; rank 95 is the 5th of 6 in 0.05..0.1
    assert traffic.p95_s == pytest.approx(0.05 + 0.05 * 5 / 6)
    assert traffic.window == "4.0s between two scrapes"
    assert traffic.problem is None and traffic.elapsed_ms == 4012.5
    assert traffic.source == {
        "kind": "scrape",
        "url": URL,
        "metric": {
            "requests": 'http_requests_total{service="api"}',
            "errors": 'http_requests_total{service="api", status=~"5.."}',
            "latency": 'http_request_duration_seconds_bucket{service="api"}',
        },
        "selector": 'service="api"',
    }


def test_without_a_selector_every_series_of_the_service_counts():
    service = Service()
    first = service.scrape(at=0.0)
    service.serve(10, "200", 0.02, service="api")
    service.serve(5, "502", 0.02, service="web")
    traffic = traffic_from_scrapes(first, service.scrape(at=2.5), Metrics(), URL)
    assert (traffic.requests, traffic.errors) == (15, 5)
    assert traffic.source["metric"]["requests"] == "http_requests_total{}"


def test_error_statuses_are_an_anchored_regex_of_the_configured_label():
    service = Service(status_label="code")
    first = service.scrape(at=0.0)
    for code in ("500", "503", "404", "1500", "50", "5xx"):
        service.serve(1, code, 0.01)
    metrics = Metrics(selector='{service="api"}', status_label="code", error_status=r"5\d\d|4.4")
    traffic = traffic_from_scrapes(first, service.scrape(at=1.0), metrics, URL)
    assert (traffic.requests, traffic.errors) == (6, 3)
    assert traffic.source["metric"]["errors"] == r'http_requests_total{service="api", code=~"5\\d\\d|4.4"}'


def test_counter_without_the_status_label_leaves_the_error_count_unknown():
    service = Service(status_label="code")
    first = service.scrape(at=0.0)
    service.serve(120, "500", 0.01)
    traffic = traffic_from_scrapes(first, service.scrape(at=1.0), Metrics(), URL)
    assert traffic.requests == 120 and traffic.errors is None  # not 0: every request here failed
    assert traffic.source["missing"] == {
        "errors": "no http_requests_total series has a 'status' label (set metrics.status_label)"
    }


def test_a_selector_that_matches_nothing_is_no_count_at_all_and_says_so():
    empty = Snapshot((), 0.0)
    traffic = traffic_from_scrapes(empty, Snapshot((), 5.0), Metrics(selector='service="api"'), URL)
    assert traffic.requests is None and math.isnan(traffic.p95_s)  # not "0 requests": nothing was looked at
    assert traffic.problem == f'the selector {{service="api"}} matches no series of {URL}'
    missing_p95 = 'the service exposes no http_request_duration_seconds_bucket{service="api"} series'
    assert traffic.source["missing"]["p95"] == missing_p95


def test_a_selector_that_matches_other_series_names_the_missing_counter():
    other = Snapshot((Sample("process_cpu_seconds_total", {"service": "api"}, 1.0),), 5.0)
    traffic = traffic_from_scrapes(Snapshot((), 0.0), other, Metrics(selector='service="api"'), URL)
    assert traffic.requests is None
    assert traffic.problem == 'the service exposes no http_requests_total{service="api"} series'


def test_no_traffic_between_the_scrapes_gives_zero_requests_and_a_nan_p95():
    service = Service()
    service.serve(10, "200", 0.02)
    traffic = traffic_from_scrapes(service.scrape(at=0.0), service.scrape(at=5.0), Metrics(), URL)
    assert (traffic.requests, traffic.errors) == (0, 0) and math.isnan(traffic.p95_s)
    assert "missing" not in traffic.source


def test_scrapes_out_of_order_or_a_bad_selector_are_a_problem_not_figures():
    service = Service()
    same_time = traffic_from_scrapes(service.scrape(at=5.0), service.scrape(at=5.0), Metrics(), URL)
    assert same_time.problem == "the second scrape was not taken after the first"
    assert same_time.requests is None and same_time.p95_s is None
    with pytest.raises(ValueError, match="expected PromQL label matchers"):  # refused when the file is loaded
        Metrics(selector="service=api")
    unchecked = Metrics.model_construct(selector="service=api")  # and, should one get this far, not a crash
    bad = traffic_from_scrapes(service.scrape(at=0.0), service.scrape(at=1.0), unchecked, URL)
    assert bad.problem is not None and bad.problem.startswith("metrics.selector: not a PromQL label matcher")
