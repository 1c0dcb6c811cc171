"""P95 latency: under the SLO now, and not much worse than before the deploy."""

from deploycheck.kinds.metrics import limits


def test_p95(target, traffic, verify):
    """The 95th percentile of the service's request durations since the deploy is within `slo.p95_ms`."""
    verify(limits.latency_p95(target.service, traffic.value))


def test_p95_vs_baseline(target, traffic, baseline_traffic, verify):
    """P95 rose by no more than `baseline.max_p95_increase_ms` against the window before the deploy."""
    verify(limits.latency_p95_vs_baseline(target.service, traffic.value, baseline_traffic.value))
