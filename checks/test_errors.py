"""Error rate: under the SLO now, and not much worse than before the deploy."""

from deploycheck import judge_metrics
from deploycheck.config_sections import Slo


def test_rate(target, traffic, verify):
    """The share of failed requests (5xx by default) since the deploy is within `slo.error_rate`."""
    slo = target.service.slo or Slo()
    verify(judge_metrics.error_rate(traffic.value, slo.error_rate, slo.min_requests))


def test_rate_vs_baseline(target, traffic, baseline_traffic, verify):
    """The error rate rose by no more than `baseline.max_error_rate_increase` (relative) against before."""
    baseline = target.service.baseline
    verify(
        judge_metrics.error_rate_vs_baseline(
            traffic.value, baseline_traffic.value, baseline.max_error_rate_increase, baseline.min_requests,
            baseline.error_rate_floor,
        )
    )  # fmt: skip
