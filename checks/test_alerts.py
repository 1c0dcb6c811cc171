"""No alert of a deciding severity fires for the service."""

from deploycheck.kinds.metrics import rules
from deploycheck.kinds.metrics.alert_selectors import selector_of
from deploycheck.kinds.metrics.config import Alerts
from deploycheck.kinds.metrics.exposition import ExpositionError, parse_matchers


def test_no_critical_firing(target, firing_alerts, alert_selectors, verify):
    """Alerts that fire now (Prometheus, or Alertmanager when configured), matched by `alerts.selector`
    (default `service="<name>"`); those of `alerts.severities` (default critical) fail the service. A selector that
    no alert can match is inconclusive, never a pass."""
    settings = target.service.alerts or Alerts()
    selector = selector_of(target.service)
    try:
        matchers = parse_matchers(selector)
    except ExpositionError:
        matchers = None  # the reach says why
    firing = [
        rules.Alert(alert.name, dict(alert.labels), alert.labels.get("severity"), alert.active_since)
        for alert in firing_alerts.value or ()
    ]
    mine = [alert for alert in firing if matchers is not None and all(m.matches(alert.labels) for m in matchers)]
    reach = (alert_selectors.value or {}).get(target.name)
    source = {**firing_alerts.source, "selector": selector, "selector_asked": list(reach.asked) if reach else []}
    verify(
        rules.alerts(
            mine if firing_alerts.value is not None else None, firing_alerts.error, settings.severities,
            settings.ignore, source, elapsed_ms=firing_alerts.elapsed_ms,
            selector_reach=(reach.matches, reach.how) if reach else (None, alert_selectors.error or "not checked"),
            unmatched=[alert for alert in firing if alert not in mine],
        )
    )  # fmt: skip
