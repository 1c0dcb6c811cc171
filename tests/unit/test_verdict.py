from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jsonschema
import pytest

from deploycheck.findings import Finding, Outcome
from deploycheck.verdict import RunReport, Verdict, decide, reasons_for, schema

P, F, INC, S = Outcome.PASSED, Outcome.FAILED, Outcome.INCONCLUSIVE, Outcome.SKIPPED


def found(*outcomes, severity="critical"):
    return [
        Finding(outcome, f"m{index}", check=f"c.x{index}", severity=severity) for index, outcome in enumerate(outcomes)
    ]


@pytest.mark.parametrize(
    ("outcomes", "verdict"),
    [
        ((P, P), Verdict.PASS),
        ((P, F), Verdict.FAIL),
        ((INC, F), Verdict.FAIL),  # a failure decides even when other evidence is missing
        ((P, INC), Verdict.INCONCLUSIVE),
        ((P, S), Verdict.PASS),
        ((S, S), Verdict.INCONCLUSIVE),  # nothing deciding ran: never a pass by default
        ((), Verdict.INCONCLUSIVE),
    ],
)
def test_decide(outcomes, verdict):
    assert decide(found(*outcomes)) is verdict


def test_advisory_findings_never_decide():
    assert decide(found(P) + found(F, INC, severity="warning")) is Verdict.PASS
    assert decide(found(F, severity="warning")) is Verdict.INCONCLUSIVE


def test_actions_and_exit_statuses_are_distinct():
    assert [(v.action, v.exit_status) for v in Verdict] == [("promote", 0), ("rollback", 1), ("hold", 6)]


def test_reasons_name_the_deciding_findings():
    assert reasons_for("api", found(P, F)) == ["api: c.x1 failed: m1"]
    assert reasons_for("api", found(S)) == ["api: no deciding check ran"]
    assert reasons_for("api", found(P)) == []


def test_run_verdict_is_the_worst_service_and_matches_the_schema():
    start = datetime(2026, 1, 1, tzinfo=UTC)
    report = RunReport(
        "prod", "v1", start, start + timedelta(seconds=2), {"a": found(P), "b": found(P, INC), "c": found(P, F)}
    )
    document = report.to_json()
    jsonschema.validate(document, schema())
    assert document["verdict"] == "FAIL" and document["exit_status"] == 1
    assert {name: body["verdict"] for name, body in document["services"].items()} == {
        "a": "PASS",
        "b": "INCONCLUSIVE",
        "c": "FAIL",
    }
    assert document["counts"] == {"passed": 3, "failed": 1, "inconclusive": 1, "skipped": 0}
    assert document["duration_s"] == 2.0


def test_a_run_with_no_service_is_inconclusive():
    now = datetime.now(UTC)
    assert RunReport("prod", None, now, now, {}).verdict is Verdict.INCONCLUSIVE
