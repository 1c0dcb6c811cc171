"""Can each service's alert selector match any alert at all? A selector that cannot makes `alerts.no_critical_firing`
inconclusive, never a pass: with the default `service="<name>"` and rules whose alerts carry no `service` label, a
critical alert fired and the check passed, having looked at nothing.

An alert carries its rule's labels over the labels of one series of the rule's expression (and `alertname`). So the
selector is asked of Prometheus, once for the environment and with the other probes:
- its alerting rules (/api/v1/rules): a rule's own labels decide the matchers on them; a pending or firing alert
  shows which labels its expression gives (a label none of them carries, the expression drops);
- which services' selectors match any series of the last hour (/api/v1/label/<label>/values with `match[]`: the
  index only, no samples read): one request for every service with the default selector, one per other selector.
A rule that is not active does not say which labels its alerts would carry: it may match when the selector's labels
are on some series. With Alertmanager as the source, an alert it holds (in any state) that matches settles it too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from deploycheck.config.loader import Environment, Service
from deploycheck.evidence.base import Evidence
from deploycheck.evidence.probe import GatherSettings, Probe
from deploycheck.evidence.registry import register
from deploycheck.kinds.http.session import mask_url_password
from deploycheck.kinds.metrics.config import Alerts
from deploycheck.kinds.metrics.exposition import ExpositionError, Matcher, parse_matchers
from deploycheck.kinds.metrics.probes import _BATCHABLE, BATCH_LABEL, SERIES_SINCE_S, _access
from deploycheck.kinds.metrics.session import AlertRule, PromAlertsRequest, PromApiGet, PrometheusSession

ALERT_ONLY_LABELS = frozenset({"alertname", "alertstate"})  # never on a scraped series
SHOWN = 6  # label names or rule names quoted in a message


def selector_of(service: Service) -> str:
    """The service's alert selector: `alerts.selector`, else `service="<name>"` (the implicit default)."""
    settings = service.alerts or Alerts()
    return settings.selector or f'service="{service.name}"'


@dataclass(frozen=True)
class Reach:
    """Whether a selector can match an alert: `matches` True (shown), None (could not be told), False (it cannot)."""

    matches: bool | None
    how: str  # why, in words: quoted in the finding's message or source
    asked: tuple[dict[str, Any], ...] = ()  # the requests behind it, as evidence


@dataclass(frozen=True)
class AlertSelectorsRequest:
    """Every service's alert selector, and what to ask to judge them all at once."""

    selectors: Mapping[str, str]  # service -> selector
    prometheus: str | None  # its URL (masked), for messages; None: not configured
    rules: PromApiGet | None = None
    series: Mapping[str, PromApiGet] = field(default_factory=dict)  # service -> its series request (shared)
    held: PromAlertsRequest | None = None  # Alertmanager's alerts in every state, when it is the source
    timeout_s: float = 10.0

    def describe(self) -> dict[str, Any]:
        return {"kind": "prometheus", "rules": self.rules.describe() if self.rules else None}

    async def gather(self, prometheus: PrometheusSession) -> Evidence:
        """Ask everything at once; the value is {service: Reach}."""
        asked: list[Any] = [*self.series.values(), self.rules, self.held]
        distinct = list({id(request): request for request in asked if request is not None}.values())  # shared ones once
        answered = dict(zip(map(id, distinct), await asyncio.gather(*map(prometheus.fetch, distinct)), strict=True))
        rules, held = answered.get(id(self.rules)), answered.get(id(self.held))
        reaches = {
            service: replace(
                self._reach(service, selector, rules, held, answered.get(id(self.series.get(service)))),
                asked=tuple(r.describe() for r in (self.rules, self.series.get(service), self.held) if r is not None),
            )
            for service, selector in self.selectors.items()
        }
        sources = {"selectors": dict(self.selectors), "rules": self.rules.describe() if self.rules else None}
        return Evidence(sources, reaches)

    def _reach(
        self, service: str, selector: str, rules: Evidence | None, held: Evidence | None, series: Evidence | None
    ) -> Reach:
        try:
            matchers = parse_matchers(selector)
        except ExpositionError as error:
            return Reach(None, f"the selector {selector} is not PromQL label matchers: {error}")
        if held is not None and held.value:
            alert = next((a for a in held.value if _all(matchers, a.labels)), None)
            if alert is not None:
                return Reach(True, f"the alert {alert.name} that Alertmanager holds matches it")
        if self.prometheus is None:
            return Reach(
                None,
                f"without `prometheus:` the suite cannot read the alerting rules to check the selector {selector}, and "
                f"none of the alerts Alertmanager holds matches it: configure `prometheus:` as well",
            )
        if rules is None or rules.value is None:
            why = rules.error if rules is not None and rules.error else "no answer"
            return Reach(None, f"could not check the selector {selector} against the alerting rules: {why}")
        found = None
        if series is not None:
            found = None if series.value is None else bool(series.value)
            asked = self.series[service]
            if asked.label == BATCH_LABEL and found:  # one request for several services: is this one's among them?
                found = service in series.value
        reach = reach_of(matchers, rules.value, found, _series_matchers(matchers))
        if reach.matches is None and series is not None and series.error:
            return Reach(None, f"{reach.how}; could not ask which series match it: {series.error}")
        if reach.matches is False:
            return Reach(
                False, f"the selector {selector} matches no alert: {reach.how} (Prometheus at {self.prometheus})"
            )
        return reach


def reach_of(
    matchers: Sequence[Matcher], rules: Sequence[AlertRule], series_found: bool | None, asked: Sequence[Matcher]
) -> Reach:
    """Whether any alert of these rules can carry labels that satisfy every matcher. `series_found`: whether a series
    matches `asked` (the matchers on labels a series can carry), None when unknown."""
    if not rules:
        return Reach(False, "there are no alerting rules, so no alert can fire")
    possible: list[str] = []
    unknown = False
    for rule in rules:
        alert = next((labels for labels in rule.alerts if _all(matchers, labels)), None)
        if alert is not None:
            return Reach(True, f"the {rule.state} alert {rule.name} matches it")
        deferred = _deferred(matchers, rule)
        if deferred is None:
            continue  # its own labels, or the labels its alerts show, contradict the selector
        if not deferred:
            return Reach(True, f"the labels of rule {rule.name} match it")
        if series_found:
            possible.append(rule.name)
        elif series_found is None or set(deferred) != set(asked):
            unknown = True
    if possible:
        names = ", ".join(possible[:SHOWN]) + (f" and {len(possible) - SHOWN} more" if len(possible) > SHOWN else "")
        return Reach(True, f"series carry its labels, and rules that are not active may keep them ({names})")
    if unknown:
        return Reach(None, "whether an alert can carry its labels could not be told")
    keys = sorted({"alertname"} | {key for rule in rules for key in rule.labels} | _alert_keys(rules))
    shown = ", ".join(keys[:SHOWN]) + (", ..." if len(keys) > SHOWN else "")
    series = "; no series carries its labels either" if series_found is False else ""
    return Reach(False, f"none of the {len(rules)} alerting rules gives an alert its labels (theirs: {shown}){series}")


def _deferred(matchers: Sequence[Matcher], rule: AlertRule) -> list[Matcher] | None:
    """The matchers only the rule's expression can satisfy; None when the rule cannot match at all."""
    deferred = []
    for matcher in matchers:
        if matcher.label == "alertname":
            if not matcher.matches({"alertname": rule.name}):
                return None
        elif matcher.label in rule.labels:  # the rule's own labels replace those of the series
            if not matcher.matches(rule.labels):
                return None
        elif rule.alerts and all(matcher.label not in labels for labels in rule.alerts):
            if not matcher.matches({}):  # its expression drops the label, and the matcher needs one
                return None
        elif not matcher.matches({}):  # one that accepts a missing label needs nothing of the series
            deferred.append(matcher)
    return deferred


def _alert_keys(rules: Sequence[AlertRule]) -> set[str]:
    return {key for rule in rules for labels in rule.alerts for key in labels}


def _all(matchers: Sequence[Matcher], labels: Mapping[str, str]) -> bool:
    return all(matcher.matches(labels) for matcher in matchers)


def _series_matchers(matchers: Sequence[Matcher]) -> list[Matcher]:
    return [matcher for matcher in matchers if matcher.label not in ALERT_ONLY_LABELS]


def _selector_text(matchers: Sequence[Matcher]) -> str:
    escaped = (m.value.replace("\\", "\\\\").replace('"', '\\"') for m in matchers)
    return "{" + ",".join(f'{m.label}{m.operator}"{value}"' for m, value in zip(matchers, escaped, strict=True)) + "}"


# ---------------------------------------------------------------------------------------------------------------
# Planning


def plan_alert_selectors(
    environment: Environment, service: Service | None, settings: GatherSettings
) -> AlertSelectorsRequest | None:
    """Once for the environment: the rules, and the series of every service's selector."""
    if environment.alertmanager is None and environment.prometheus is None:
        return None
    selectors = {name: selector_of(one) for name, one in environment.services.items()}
    api, am = environment.prometheus, environment.alertmanager
    held = None
    if am is not None:
        token, basic, tls = _access(am)
        held = PromAlertsRequest(am.url, am.timeout, dict(am.headers), token, basic, tls, alertmanager=True, every=True)
    if api is None:
        assert am is not None
        return AlertSelectorsRequest(selectors, None, held=held, timeout_s=am.timeout)
    token, basic, tls = _access(api)
    asked: dict[tuple[str, str], PromApiGet] = {}  # (label, match) -> the one request that asks it

    def get(api_name: str, label: str = "__name__", match: str = "") -> PromApiGet:
        if (label, match) not in asked:
            start, end = settings.now - SERIES_SINCE_S, settings.now
            asked[(label, match)] = PromApiGet(
                api.url, api_name, api.timeout, dict(api.headers), token, basic, tls, label, match, start, end
            )
        return asked[(label, match)]

    defaults = sorted(
        name for name, one in environment.services.items()
        if (one.alerts is None or one.alerts.selector is None) and _BATCHABLE.fullmatch(name)
    )  # fmt: skip
    series = dict.fromkeys(defaults, get("label_values", BATCH_LABEL, f'{{{BATCH_LABEL}=~"{"|".join(defaults)}"}}'))
    for name, selector in selectors.items():
        if name in series:
            continue
        try:
            matchers = _series_matchers(parse_matchers(selector))
        except ExpositionError:
            continue  # said by the check, with the selector
        if any(not matcher.matches({}) for matcher in matchers):  # PromQL needs one matcher that wants a value
            series[name] = get("label_values", match=_selector_text(matchers))
    rules = PromApiGet(api.url, "rules", api.timeout, dict(api.headers), token, basic, tls)
    timeout = max(api.timeout, am.timeout if am is not None else 0.0)
    return AlertSelectorsRequest(selectors, mask_url_password(api.url), rules, series, held, timeout)


register(Probe("alert_selectors", "metrics", "prometheus", plan_alert_selectors, scope="environment"))
