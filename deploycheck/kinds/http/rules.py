"""Pure judgement: evidence + rule -> Finding. No I/O here, so every rule is unit-testable."""

from __future__ import annotations

import json
from typing import Any

from deploycheck.evidence.base import Evidence
from deploycheck.findings import Finding, Outcome
from deploycheck.kinds.http.config import Endpoint, VersionEndpoint
from deploycheck.kinds.http.session import MAX_BODY_BYTES
from deploycheck.text import cut, cut_value, one_line

EXCERPT_CHARS = 200  # of a body, quoted in a message
OBSERVED_CHARS = 1000  # of an observed value, kept in the verdict


def endpoint(evidence: Evidence, spec: Endpoint) -> Finding:
    """A health or readiness endpoint: the expected status, and the expected JSON fields in its body."""
    request = _request(evidence)
    limit: dict[str, Any] = {"status": spec.expect_status, **({"body": dict(spec.expect)} if spec.expect else {})}
    response = evidence.value
    if response is None:
        return _finding(evidence, Outcome.FAILED, _no_answer(request, evidence), limit=limit)
    observed: dict[str, Any] = {"status": response.status}
    if response.truncated:
        message = f"{request} answered {response.status} with {_oversized(response.size)}: not a health answer"
        return _finding(evidence, Outcome.FAILED, message, observed=observed, limit=limit)
    body = response.json if isinstance(response.json, dict) else None
    if spec.expect:
        observed["body"] = {key: body.get(key) for key in spec.expect} if body is not None else excerpt(evidence)
    if response.status != spec.expect_status:
        message = f"{request} answered {response.status}, expected {spec.expect_status}; body: {excerpt(evidence)}"
        return _finding(evidence, Outcome.FAILED, message, observed=observed, limit=limit)
    if spec.expect and body is None:
        message = f"{request} answered {response.status} but not with a JSON object: {excerpt(evidence)}"
        return _finding(evidence, Outcome.FAILED, message, observed=observed, limit=limit)
    wrong = {key: value for key, value in spec.expect.items() if body is not None and body.get(key) != value}
    if body is not None and wrong:
        details = ", ".join(
            f"{key}={cut(repr(body.get(key)), 80)} (expected {value!r})" for key, value in wrong.items()
        )
        return _finding(evidence, Outcome.FAILED, f"{request}: {details}", observed=observed, limit=limit)
    message = f"{request} answered {response.status} as expected"
    return _finding(evidence, Outcome.PASSED, message, observed=observed, limit=limit)


def version(evidence: Evidence, spec: VersionEndpoint, expected: str) -> Finding:
    """The served version equals the expected one (a leading 'v' is not significant: v2.3.1 == 2.3.1)."""
    request = _request(evidence)
    response = evidence.value
    if response is None:
        return _finding(evidence, Outcome.FAILED, _no_answer(request, evidence), limit=expected)
    if response.truncated:
        message = f"{request} answered with {_oversized(response.size)}: not a version"
        return _finding(evidence, Outcome.FAILED, message, limit=expected)
    if response.status != 200:
        message = f"{request} answered {response.status}, expected 200; body: {excerpt(evidence)}"
        return _finding(evidence, Outcome.FAILED, message, limit=expected)
    served = _field(response.json, spec.field)
    if served is None:
        message = f"{request}: no field {spec.field!r} in the body: {excerpt(evidence)}"
        return _finding(evidence, Outcome.FAILED, message, limit=expected)
    served = str(served)
    observed = cut_value(served, OBSERVED_CHARS)
    if _normalise_version(served) != _normalise_version(expected):
        message = f"{request} serves version {cut(served, 80)}, expected {expected}"
        return _finding(evidence, Outcome.FAILED, message, observed=observed, limit=expected)
    return _finding(evidence, Outcome.PASSED, f"serves version {served} as expected", observed=served, limit=expected)


def excerpt(evidence: Evidence, limit: int = EXCERPT_CHARS) -> str:
    """A body as quoted in a one-line message: its JSON, or its first line (an HTML page: its title)."""
    response = evidence.value
    if response is None:
        return "(no answer)"
    if response.json is not None:
        return cut(json.dumps(response.json, separators=(",", ":")), limit)
    return one_line(response.body, limit) or "(empty)"


def _no_answer(request: str, evidence: Evidence) -> str:
    """'GET url: no answer: connection refused', without saying "no answer" twice for a timeout."""
    error = evidence.error or "unknown"
    return f"{request}: {error}" if error.startswith("no answer") else f"{request}: no answer: {error}"


def _normalise_version(text: str) -> str:
    text = text.strip()
    return text[1:] if text[:1] in ("v", "V") and text[1:2].isdigit() else text


def _field(body: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(body, dict):
            return None
        body = body.get(part)
    return body


def _request(evidence: Evidence) -> str:
    return f"{evidence.source.get('method', '')} {evidence.source.get('url', '')}".strip()


def _oversized(size: int) -> str:
    def amount(count: int) -> str:
        return f"{count / 1_048_576:.1f} MiB" if count >= 1_048_576 else f"{count:,} bytes"

    return f"a body of {amount(size)} or more, over the {amount(MAX_BODY_BYTES)} a probe reads"


def _finding(evidence: Evidence, outcome: Outcome, message: str, **values: Any) -> Finding:
    source = {**evidence.source, "attempts": evidence.attempts}
    return Finding(outcome, message, source=source, duration_ms=evidence.elapsed_ms, samples=1, **values)
