"""How a check ended, decided in one place: what the check recorded combined with how its test really ended.

A test runs in phases (setup, call, teardown). A check records findings through `verify` as it goes; then it
may still break. The rules:
- a skip in setup or call is a skipped finding (with the reason), unless the check recorded something first;
- a check that stopped at its own recorded failure or inconclusive finding ends with what it recorded;
- a check that broke any other way (an assertion, an error, a failing teardown) never passes: its recorded
  passes take the outcome of the break (failed for an assertion, inconclusive for anything else), and the break
  itself is a finding when nothing recorded carries it;
- a check that passed without recording anything is one passed finding; one that never finished (the run was
  interrupted) is inconclusive.
Pure data in, findings out: the pytest glue maps its reports to `Phase`s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from deploycheck.findings import Finding, Outcome


class Ending(StrEnum):
    PASSED = "passed"
    SKIPPED = "skipped"
    RECORDED = "recorded"  # stopped by `verify` raising for the finding it just recorded
    ASSERTION = "assertion"  # a failed assertion or pytest.fail in the check: the service broke the rule
    INCONCLUSIVE = "inconclusive"  # the check raised Inconclusive itself
    ERROR = "error"  # anything else: the check's own machinery broke


@dataclass(frozen=True)
class Phase:
    when: str  # setup, call or teardown
    ending: Ending
    message: str = ""  # one line: the skip reason or the error


def combine(template: Finding, phases: Sequence[Phase], recorded: Sequence[Finding]) -> list[Finding]:
    """The findings of one test. `template` carries the check id, test, service and severity for new findings."""
    by_when = {phase.when: phase for phase in phases}
    findings = list(recorded)
    for when in ("setup", "call", "teardown"):
        phase = by_when.get(when)
        if phase is None:
            if when == "call" and by_when.get("setup", Phase("setup", Ending.PASSED)).ending is Ending.PASSED:
                return _broken(template, findings, Outcome.INCONCLUSIVE, "the check did not run to its end")
            continue
        if phase.ending is Ending.SKIPPED:
            return findings or [template.but(outcome=Outcome.SKIPPED, message=phase.message)]
        if phase.ending is Ending.RECORDED and findings:
            continue
        if phase.ending is not Ending.PASSED:
            prefix = "" if when == "call" else f"{when} error: "
            outcome = Outcome.FAILED if phase.ending is Ending.ASSERTION and when == "call" else Outcome.INCONCLUSIVE
            return _broken(template, findings, outcome, prefix + (phase.message or "no message"))
    return findings or [template.but(outcome=Outcome.PASSED, message="passed")]


def _broken(template: Finding, recorded: list[Finding], outcome: Outcome, message: str) -> list[Finding]:
    if not any(finding.outcome is Outcome.PASSED for finding in recorded):
        return [*recorded, template.but(outcome=outcome, message=message)]
    return [
        finding.but(outcome=outcome, message=f"{finding.message}; then the check broke: {message}")
        if finding.outcome is Outcome.PASSED
        else finding
        for finding in recorded
    ]
