"""`python -m deploycheck merge`: the verdicts of shards (pods of an Indexed Job, each checking some services)
merged into one, decided by the same rules as a single run. A part that is missing or unreadable is an
inconclusive finding of the environment: a service nobody checked can never make the merge pass."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deploycheck.findings import Finding, Outcome
from deploycheck.verdict import RunReport

CHECK = "merge.part"
_OWN_STATUS = (2, 3, 4)  # pytest's interrupted, internal error, usage error: the shard did not run as asked


def merge(parts: dict[str, dict[str, Any] | str]) -> dict[str, Any]:
    """Part name -> its verdict document, or why it could not be read -> one verdict document."""
    findings: dict[str, list[Finding]] = {}
    environment_findings: list[Finding] = []
    not_judged: list[dict[str, Any]] = []
    warnings: list[str] = []
    environments, expected, starts, ends = set(), set(), [], []
    for name, document in parts.items():
        if isinstance(document, str):
            environment_findings.append(Finding(Outcome.INCONCLUSIVE, f"{name}: {document}", check=CHECK))
            continue
        environments.add(document["environment"])
        expected.add(document.get("expected_version"))
        starts.append(datetime.fromisoformat(document["started_at"]))
        ends.append(datetime.fromisoformat(document["finished_at"]))
        for service, body in document["services"].items():
            findings.setdefault(service, []).extend(Finding.from_dict(f) for f in body["findings"])
        environment_findings += [Finding.from_dict(f) for f in document["environment_checks"]["findings"]]
        not_judged += document.get("not_judged", [])
        warnings += [f"{name}: {warning}" for warning in document.get("warnings", [])]
        if document["exit_status"] in _OWN_STATUS:
            reasons = "; ".join(document.get("reasons", [])[:1]) or "it stopped"
            message = f"{name}: the shard did not finish (exit {document['exit_status']}): {reasons}"
            environment_findings.append(Finding(Outcome.INCONCLUSIVE, message, check=CHECK))
    if len(environments) > 1:
        message = f"the parts checked different environments: {', '.join(sorted(environments))}"
        environment_findings.append(Finding(Outcome.INCONCLUSIVE, message, check=CHECK))
    now = datetime.now(UTC)
    report = RunReport(
        environment=",".join(sorted(environments)) or "unknown",
        expected_version=next(iter(expected)) if len(expected) == 1 else None,
        started_at=min(starts, default=now),
        finished_at=max(ends, default=now),
        findings=findings,
        environment_findings=environment_findings,
        not_judged=not_judged,
        warnings=warnings,
    )
    return report.to_json()


def read_parts(paths: list[Path], shards: int | None) -> dict[str, dict[str, Any] | str]:
    parts: dict[str, dict[str, Any] | str] = {}
    for path in paths:
        try:
            parts[str(path)] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            parts[str(path)] = f"unreadable verdict part ({type(error).__name__}: {error})"
    readable = sum(1 for document in parts.values() if not isinstance(document, str))
    if shards is not None and readable < shards:
        parts["shards"] = f"{shards} shards, but only {readable} wrote a verdict"
    return parts


def merge_files(paths: list[Path], output: Path, shards: int | None = None) -> int:
    document = merge(read_parts(paths, shards))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"deploycheck merge: {document['verdict']} -> {document['action']} ({output})", file=sys.stderr)
    return int(document["exit_status"])
