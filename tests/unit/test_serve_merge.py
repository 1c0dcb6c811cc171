"""`python -m deploycheck merge`: shards' verdicts merged by the rules of one run; a missing shard never passes."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from deploycheck.__main__ import main
from deploycheck.findings import Finding, Outcome
from deploycheck.verdict import RunReport


def part(service: str, outcome: Outcome, minute: int = 0) -> dict:
    finding = Finding(outcome, f"observed something ({outcome.value})", check="health.liveness", service=service)
    return RunReport(
        environment="production",
        expected_version="v2",
        started_at=datetime(2026, 11, 27, 12, minute, tzinfo=UTC),
        finished_at=datetime(2026, 11, 27, 12, minute + 1, tzinfo=UTC),
        findings={service: [finding]},
    ).to_json()


def write(tmp_path, **parts: dict) -> list[str]:
    paths = []
    for name, document in parts.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(document))
        paths.append(str(tmp_path / f"{name}.json"))
    return paths


def test_merged_verdict_is_decided_over_every_shards_services(tmp_path):
    paths = write(tmp_path, a=part("api", Outcome.PASSED, 0), b=part("orders", Outcome.FAILED, 5))

    status = main(["merge", *paths, "-o", str(tmp_path / "verdict.json"), "--shards", "2"])

    merged = json.loads((tmp_path / "verdict.json").read_text())
    assert status == 1 and merged["verdict"] == "FAIL" and merged["exit_status"] == 1
    assert {name: body["verdict"] for name, body in merged["services"].items()} == {"api": "PASS", "orders": "FAIL"}
    assert (merged["started_at"], merged["finished_at"]) == ("2026-11-27T12:00:00+00:00", "2026-11-27T12:06:00+00:00")
    assert merged["reasons"] == ["orders: health.liveness failed: observed something (failed)"]


def test_all_shards_passing_pass(tmp_path):
    paths = write(tmp_path, a=part("api", Outcome.PASSED), b=part("orders", Outcome.PASSED))

    assert main(["merge", *paths, "-o", str(tmp_path / "verdict.json"), "--shards", "2"]) == 0


def test_a_missing_or_unreadable_shard_makes_the_merge_inconclusive(tmp_path):
    paths = write(tmp_path, a=part("api", Outcome.PASSED))
    (tmp_path / "b.json").write_text("{not json")

    status = main(["merge", *paths, str(tmp_path / "b.json"), "-o", str(tmp_path / "v.json"), "--shards", "3"])

    merged = json.loads((tmp_path / "v.json").read_text())
    assert status == 6 and merged["verdict"] == "INCONCLUSIVE"
    messages = [f["message"] for f in merged["environment_checks"]["findings"]]
    assert any(m.startswith(f"{tmp_path / 'b.json'}: unreadable verdict part (JSONDecodeError") for m in messages)
    assert "shards: 3 shards, but only 1 wrote a verdict" in messages
