"""Judgement of the gRPC health evidence: every named gRPC service of the service answers SERVING.

A pure function: the `grpc_health` Evidence in, one Finding out, whose observed value is each named gRPC
service's status (or why none came) and round trip. Anything but SERVING fails, naming the gRPC service: a
NOT_SERVING or unknown service, an unreachable target (a failure of the target), a Check with no answer within
its deadline. Never a pass without an answer.
"""

from __future__ import annotations

from deploycheck.evidence.base import Evidence
from deploycheck.findings import Finding, Outcome


def _name(service: str) -> str:
    return repr(service) if service else "the server (overall)"


def serving(evidence: Evidence) -> Finding:
    """Each named gRPC service answers `SERVING` within its deadline."""
    source = evidence.source
    if not evidence.ok or not isinstance(evidence.value, dict):
        return Finding(Outcome.FAILED, f"{source.get('target')}: {evidence.error}", source=source)
    answers = evidence.value["services"]
    if not answers:
        return Finding(Outcome.FAILED, "no gRPC service was asked", source=source)
    wrong = {name: answer for name, answer in answers.items() if answer.get("status") != "SERVING"}
    outcome = Outcome.FAILED if wrong else Outcome.PASSED
    if wrong:
        problems = [f"{_name(name)}: {answer.get('error') or answer['status']}" for name, answer in wrong.items()]
        message = f"{evidence.value['target']}: not serving: " + "; ".join(problems)
    else:
        message = f"{evidence.value['target']}: {len(answers)} gRPC service(s) SERVING"
    return Finding(
        outcome,
        message,
        observed=answers,
        limit="SERVING",
        source=source,
        duration_ms=evidence.elapsed_ms,
    )
