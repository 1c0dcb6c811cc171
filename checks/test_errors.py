"""Error rate: under the SLO now, and not much worse than before the deploy."""

from deploycheck.kinds.metrics import limits


def test_rate(target, traffic, verify):
    """The share of failed requests (5xx by default) since the deploy is within `slo.error_rate`."""
    verify(limits.errors_rate(target.service, traffic.value))


def test_rate_vs_baseline(target, traffic, baseline_traffic, verify):
    """The error rate rose by no more than `baseline.max_error_rate_increase` (relative) against before."""
    verify(limits.errors_rate_vs_baseline(target.service, traffic.value, baseline_traffic.value))
