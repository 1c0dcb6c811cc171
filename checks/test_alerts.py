"""No alert of a deciding severity fires for the service."""

from deploycheck import judge_metrics
from deploycheck.config_sections import Alerts
from deploycheck.exposition import parse_matchers


def test_no_critical_firing(target, firing_alerts, verify):
    """Alerts that fire now (Prometheus, or Alertmanager when configured), matched by `alerts.selector`
    (default `service="<name>"`); those of `alerts.severities` (default critical) fail the service."""
    settings = target.service.alerts or Alerts()
    matchers = parse_matchers(settings.selector or f'service="{target.name}"')
    mine = [
        judge_metrics.Alert(alert.name, dict(alert.labels), alert.labels.get("severity"), alert.active_since)
        for alert in firing_alerts.value or ()
        if all(matcher.matches(alert.labels) for matcher in matchers)
    ]
    source = {**firing_alerts.source, "selector": settings.selector or f'service="{target.name}"'}
    verify(
        judge_metrics.alerts(
            mine if firing_alerts.value is not None else None, firing_alerts.error, settings.severities,
            settings.ignore, source,
        )
    )  # fmt: skip
