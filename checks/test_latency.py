"""P95 latency: under the SLO now, and not much worse than before the deploy."""

from deploycheck import judge_metrics
from deploycheck.config_sections import Slo


def test_p95(target, traffic, verify):
    """The 95th percentile of the service's request durations since the deploy is within `slo.p95_ms`."""
    slo = target.service.slo or Slo()
    verify(judge_metrics.latency(traffic.value, slo.p95_ms, slo.min_requests))


def test_p95_vs_baseline(target, traffic, baseline_traffic, verify):
    """P95 rose by no more than `baseline.max_p95_increase_ms` against the window before the deploy."""
    baseline = target.service.baseline
    verify(
        judge_metrics.latency_vs_baseline(
            traffic.value, baseline_traffic.value, baseline.max_p95_increase_ms, baseline.min_requests,
            baseline.p95_floor_ms,
        )
    )  # fmt: skip
