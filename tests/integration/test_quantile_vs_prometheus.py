"""deploycheck's P95 from two scrapes is Prometheus's own: `histogram_quantile` on a real Prometheus, and
`quantile_from_buckets` on the same series' bucket increases, agree."""

from __future__ import annotations

import time

import pytest

from deploycheck.kinds.metrics.exposition import Sample, Snapshot
from deploycheck.kinds.metrics.traffic import histogram_increase, quantile_from_buckets
from tests.prometheus_server import traffic_history

pytest_plugins = ["tests.prometheus_server"]

HISTOGRAM = "http_request_duration_seconds"
SELECTOR = 'service="orders"'


@pytest.mark.parametrize("q", [0.5, 0.9, 0.95, 0.99])
def test_the_quantile_of_the_same_series_is_prometheus_s(backfilled_prometheus, q):
    now = time.time()
    deployed_at = now - 600
    # A window across the deploy: two thirds at 70 ms, one third at 180 ms, so the quantiles interpolate.
    history = traffic_history("orders", deployed_at, now - 1200, now - 30, latency_s=(0.07, 0.18))
    prometheus = backfilled_prometheus(history)
    at, window = deployed_at + 100, 300

    expected = prometheus.query(
        f"histogram_quantile({q}, sum by (le) (rate({HISTOGRAM}_bucket{{{SELECTOR}}}[{window}s])))", at
    )
    raw = prometheus.query(f"{HISTOGRAM}_bucket{{{SELECTOR}}}[{window}s]", at)  # the samples rate() reads
    first = Snapshot(tuple(_sample(series, series["values"][0]) for series in raw), at - window)
    last = Snapshot(tuple(_sample(series, series["values"][-1]) for series in raw), at)
    ours = quantile_from_buckets(q, histogram_increase(first, last, HISTOGRAM, SELECTOR))

    assert float(expected[0]["value"][1]) == pytest.approx(ours, rel=1e-9)
    assert 0.05 < ours < 0.2


def _sample(series: dict, point: list) -> Sample:
    labels = {key: value for key, value in series["metric"].items() if key != "__name__"}
    return Sample(f"{HISTOGRAM}_bucket", labels, float(point[1]))
