"""Watch mode: after the run, the metric rules again every interval until the watch is over, and stop at once
when a deciding rule is broken more often than the failure limit allows (the guide watches for an hour, but rolls
back at the first sustained breach, not at the end).

Each round gathers the services' traffic afresh, as of that round's time, and judges it with the same rules as
the checks (limits.py). The baseline does not move, so it is gathered once. Free of pytest: the plugin prints
the rounds and puts them in the verdict."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from deploycheck.config.loader import Environment
from deploycheck.evidence.probe import GatherSettings
from deploycheck.evidence.store import EvidenceStore
from deploycheck.findings import Finding, Outcome
from deploycheck.kinds.metrics.limits import RULES

WatchKey = tuple[str, str]  # (service, check id)


@dataclass(frozen=True)
class Round:
    number: int
    at: float  # unix seconds: the time the round's figures are as of
    findings: dict[WatchKey, Finding]
    took_s: float = 0.0  # gathering and judging (a scrape source waits its whole window)


@dataclass
class WatchResult:
    duration_s: float
    interval_s: float
    failure_limit: int
    rounds: list[Round] = field(default_factory=list)
    breaches: Counter[WatchKey] = field(default_factory=Counter)
    stopped_early: bool = False
    back_to_back: str | None = None  # said once: a round took longer than the interval, so the next starts at once

    def final(self) -> dict[WatchKey, Finding]:
        """One finding per watched rule: failed past the limit, inconclusive if a round could not judge, else passed."""
        results: dict[WatchKey, Finding] = {}
        for key in dict.fromkeys(key for round_ in self.rounds for key in round_.findings):
            seen = [round_.findings[key] for round_ in self.rounds if key in round_.findings]
            last = seen[-1]
            broken = self.breaches[key]
            tally = f"broken in {broken} of {len(seen)} rounds (failure limit {self.failure_limit})"
            if broken > self.failure_limit:
                failing = next(finding for finding in reversed(seen) if finding.outcome is Outcome.FAILED)
                outcome, message = Outcome.FAILED, f"{tally}; last breach: {failing.message}"
            elif any(finding.outcome is Outcome.INCONCLUSIVE for finding in seen):
                outcome, message = Outcome.INCONCLUSIVE, f"{tally}; not judged in every round: {last.message}"
            else:
                outcome, message = Outcome.PASSED, f"{tally}; last round: {last.message}"
            results[key] = last.but(outcome=outcome, message=message, check=f"watch.{key[1]}", samples=len(seen))
        return results

    def to_json(self) -> dict[str, Any]:
        return {
            "duration_s": self.duration_s,
            "interval_s": self.interval_s,
            "failure_limit": self.failure_limit,
            "stopped_early": self.stopped_early,
            "back_to_back": self.back_to_back is not None,
            **({"note": self.back_to_back} if self.back_to_back else {}),
            "rounds": [
                {"round": r.number, "at": r.at, "took_s": round(r.took_s, 2), "results": _results(r)}
                for r in self.rounds
            ],
        }


def _results(round_: Round) -> list[dict[str, Any]]:
    return [
        {"service": service, "check": check, "outcome": f.outcome.value, "observed": f.observed, "message": f.message}
        for (service, check), f in round_.findings.items()
    ]


def watch(
    environment: Environment,
    settings: GatherSettings,
    duration_s: float,
    interval_s: float,
    failure_limit: int,
    on_round: Callable[[Round, WatchResult], None],
    started_at: float | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> WatchResult:
    """Rounds at started_at + k * interval_s (k >= 1) while within duration_s of started_at.

    A round that falls behind (it took longer than the interval) is followed at once by the next, never by a
    catch-up: the watch ends within its duration plus one round, however long a round takes."""
    result = WatchResult(duration_s, interval_s, failure_limit)
    start = clock() if started_at is None else started_at
    watched = [name for name, service in environment.services.items() if service.metrics is not None]
    baseline: dict[str, Any] = {}
    number = 0
    while True:
        number += 1
        now = clock()
        due = max(start + number * interval_s, now)  # behind schedule: now, not a round per missed interval
        if due > start + duration_s:
            return result
        sleep(due - now)
        began = clock()
        store = EvidenceStore(environment, replace(settings, now=began))
        wanted = [(name, "traffic") for name in watched]
        wanted += [(name, "baseline_traffic") for name in watched if name not in baseline]
        store.prefetch(wanted)
        baseline.update({name: _value(store, name, "baseline_traffic") for name in watched if name not in baseline})
        findings = _judge(environment, watched, store, baseline)
        round_ = Round(number, store.settings.now, findings, took_s=clock() - began)
        if round_.took_s > interval_s and result.back_to_back is None:
            result.back_to_back = (
                f"a round takes {round_.took_s:.1f}s, longer than the interval of {interval_s:g}s: "
                "the rounds run back to back"
            )
        result.rounds.append(round_)
        for key, finding in round_.findings.items():
            if finding.outcome is Outcome.FAILED and finding.deciding:
                result.breaches[key] += 1
        on_round(round_, result)
        if any(count > failure_limit for count in result.breaches.values()):
            result.stopped_early = True
            return result


def _judge(
    environment: Environment, watched: list[str], store: EvidenceStore, baseline: dict[str, Any]
) -> dict[WatchKey, Finding]:
    findings: dict[WatchKey, Finding] = {}
    for name in watched:
        service = environment.services[name]
        traffic = _value(store, name, "traffic")
        for check, (rule, needs_baseline) in RULES.items():
            if needs_baseline and (service.baseline is None or baseline.get(name) is None):
                continue
            finding = rule(service, traffic, baseline.get(name))
            findings[(name, check)] = finding.but(check=check, service=name, severity=service.severity_of(check))
    return findings


def _value(store: EvidenceStore, service: str, probe: str) -> Any:
    try:
        return store.get(service, probe).value
    except LookupError:  # not configured for this service
        return None
