"""How a check ended: what it recorded combined with how its test really ended, decided in one place."""

from __future__ import annotations

import pytest

from deploycheck.findings import Finding, Outcome
from deploycheck.outcomes import Ending, Phase, combine

TEMPLATE = Finding(Outcome.PASSED, "", check="flows.login", test="t::x", service="orders")
PASSED = Finding(Outcome.PASSED, "step one answered 200", check="flows.login")
FAILED = Finding(Outcome.FAILED, "step two answered 500", check="flows.login")


def phases(setup: Ending = Ending.PASSED, call: Ending | None = Ending.PASSED, teardown: Ending | None = None):
    ended = [Phase("setup", setup, "setup message")]
    if call is not None:
        ended.append(Phase("call", call, "call message"))
    ended.append(Phase("teardown", teardown or Ending.PASSED, "teardown message"))
    return ended


def outcomes(findings: list[Finding]) -> list[tuple[str, str]]:
    return [(finding.outcome.value, finding.message) for finding in findings]


def test_a_check_that_passed_without_recording_is_one_pass():
    assert outcomes(combine(TEMPLATE, phases(), [])) == [("passed", "passed")]


def test_recorded_findings_stand_when_the_check_ends_well():
    assert combine(TEMPLATE, phases(), [PASSED]) == [PASSED]


def test_a_check_stopped_by_its_own_recorded_failure_ends_with_what_it_recorded():
    assert combine(TEMPLATE, phases(call=Ending.RECORDED), [PASSED, FAILED]) == [PASSED, FAILED]


@pytest.mark.parametrize(
    ("ending", "outcome"),
    [(Ending.ERROR, "inconclusive"), (Ending.INCONCLUSIVE, "inconclusive"), (Ending.ASSERTION, "failed")],
)
def test_a_check_that_broke_after_recording_a_pass_is_never_a_pass(ending, outcome):
    assert outcomes(combine(TEMPLATE, phases(call=ending), [PASSED])) == [
        (outcome, "step one answered 200; then the check broke: call message")
    ]


def test_a_break_after_a_recorded_failure_is_a_finding_of_its_own():
    found = combine(TEMPLATE, phases(call=Ending.ERROR), [FAILED])
    assert outcomes(found) == [("failed", "step two answered 500"), ("inconclusive", "call message")]


def test_a_setup_error_is_inconclusive_and_a_setup_skip_is_a_skip():
    assert outcomes(combine(TEMPLATE, phases(setup=Ending.ERROR, call=None), [])) == [
        ("inconclusive", "setup error: setup message")
    ]
    assert outcomes(combine(TEMPLATE, phases(setup=Ending.SKIPPED, call=None), [])) == [("skipped", "setup message")]


def test_an_assertion_in_setup_is_not_the_services_failure():
    assert outcomes(combine(TEMPLATE, phases(setup=Ending.ASSERTION, call=None), [])) == [
        ("inconclusive", "setup error: setup message")
    ]


def test_a_failing_teardown_takes_the_pass_away():
    assert outcomes(combine(TEMPLATE, phases(teardown=Ending.ERROR), [PASSED])) == [
        ("inconclusive", "step one answered 200; then the check broke: teardown error: teardown message")
    ]


def test_a_check_that_never_finished_is_inconclusive():
    assert outcomes(combine(TEMPLATE, [Phase("setup", Ending.PASSED)], [])) == [
        ("inconclusive", "the check did not run to its end")
    ]


def test_new_findings_carry_the_checks_identity():
    [finding] = combine(TEMPLATE, phases(call=Ending.ASSERTION), [])
    assert (finding.check, finding.service, finding.test) == ("flows.login", "orders", "t::x")
