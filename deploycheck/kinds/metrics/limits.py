"""The metric rules of a service, as its configuration sets them: one function per check id, from the service and
its traffic figures to a Finding. The checks in checks/ call them once; the watch loop (watch.py) calls them every
round. The arithmetic is in rules.py; this only picks the limits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from deploycheck.config.loader import Service
from deploycheck.findings import Finding
from deploycheck.kinds.metrics.config import Baseline, Slo
from deploycheck.kinds.metrics.rules import Proof, error_rate, error_rate_vs_baseline, latency, latency_vs_baseline
from deploycheck.kinds.metrics.traffic import Traffic


def proof(service: Service) -> Proof:
    """How much evidence the service's rules ask for (its `slo` section: confidence, min_failures, min_requests)."""
    slo = service.slo or Slo()
    return Proof(slo.confidence, slo.min_failures, slo.min_requests or 0)


def latency_p95(service: Service, traffic: Traffic, baseline: Traffic | None = None) -> Finding:
    slo = service.slo or Slo()
    return latency(traffic, slo.p95_ms, proof(service))


def errors_rate(service: Service, traffic: Traffic, baseline: Traffic | None = None) -> Finding:
    slo = service.slo or Slo()
    return error_rate(traffic, slo.error_rate, proof(service))


def latency_p95_vs_baseline(service: Service, traffic: Traffic, baseline: Traffic | None = None) -> Finding:
    rule = service.baseline or Baseline()
    assert baseline is not None
    return latency_vs_baseline(traffic, baseline, rule.max_p95_increase_ms, rule.p95_floor_ms, _baseline_proof(service))


def errors_rate_vs_baseline(service: Service, traffic: Traffic, baseline: Traffic | None = None) -> Finding:
    rule = service.baseline or Baseline()
    assert baseline is not None
    slo = service.slo or Slo()
    return error_rate_vs_baseline(
        traffic, baseline, rule.max_error_rate_increase, rule.error_rate_floor, _baseline_proof(service), slo.error_rate
    )


def _baseline_proof(service: Service) -> Proof:
    rule = service.baseline or Baseline()
    return replace(proof(service), min_requests=rule.min_requests or 0)


Rule = Callable[[Service, Traffic, Traffic | None], Finding]
# check id -> (rule, whether it needs the baseline)
RULES: dict[str, tuple[Rule, bool]] = {
    "latency.p95": (latency_p95, False),
    "errors.rate": (errors_rate, False),
    "latency.p95_vs_baseline": (latency_p95_vs_baseline, True),
    "errors.rate_vs_baseline": (errors_rate_vs_baseline, True),
}
