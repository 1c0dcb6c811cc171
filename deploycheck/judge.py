"""Pure judgement: evidence + rule -> Finding. No I/O here, so every rule is unit-testable."""

from __future__ import annotations

import json
from typing import Any

from deploycheck.config import Endpoint, VersionEndpoint
from deploycheck.findings import Finding, Outcome
from deploycheck.probes.http import HttpResult


def endpoint(result: HttpResult, spec: Endpoint) -> Finding:
    """A health or readiness endpoint: the expected status, and the expected JSON fields in its body."""
    request = f"{result.request.method} {result.request.url}"
    evidence = _evidence(result)
    limit: dict[str, Any] = {
        "status": spec.expect_status,
        **({"body": dict(spec.expect)} if spec.expect else {}),
    }
    if not result.answered:
        return Finding(Outcome.FAILED, f"{request}: no answer: {result.error}", limit=limit, **evidence)
    body = result.json if isinstance(result.json, dict) else None
    observed: dict[str, Any] = {"status": result.status}
    if spec.expect:
        observed["body"] = {key: body.get(key) for key in spec.expect} if body is not None else _excerpt(result)
    if result.status != spec.expect_status:
        message = f"{request} answered {result.status}, expected {spec.expect_status}; body: {_excerpt(result)}"
        return Finding(Outcome.FAILED, message, observed=observed, limit=limit, **evidence)
    if spec.expect and body is None:
        message = f"{request} answered {result.status} but not with a JSON object: {_excerpt(result)}"
        return Finding(Outcome.FAILED, message, observed=observed, limit=limit, **evidence)
    wrong = {key: value for key, value in spec.expect.items() if body is not None and body.get(key) != value}
    if wrong:
        details = ", ".join(f"{key}={body.get(key)!r} (expected {value!r})" for key, value in wrong.items() if body)
        return Finding(Outcome.FAILED, f"{request}: {details}", observed=observed, limit=limit, **evidence)
    return Finding(
        Outcome.PASSED,
        f"{request} answered {result.status} as expected",
        observed=observed,
        limit=limit,
        **evidence,
    )


def version(result: HttpResult, spec: VersionEndpoint, expected: str) -> Finding:
    """The served version equals the expected one (a leading 'v' is not significant: v2.3.1 == 2.3.1)."""
    request = f"{result.request.method} {result.request.url}"
    evidence = _evidence(result)
    if not result.answered:
        return Finding(Outcome.FAILED, f"{request}: no answer: {result.error}", limit=expected, **evidence)
    if result.status != 200:
        message = f"{request} answered {result.status}, expected 200; body: {_excerpt(result)}"
        return Finding(Outcome.FAILED, message, observed=None, limit=expected, **evidence)
    served = _field(result.json, spec.field)
    if served is None:
        message = f"{request}: no field {spec.field!r} in the body: {_excerpt(result)}"
        return Finding(Outcome.FAILED, message, limit=expected, **evidence)
    served = str(served)
    if _normalise_version(served) != _normalise_version(expected):
        message = f"{request} serves version {served}, expected {expected}"
        return Finding(Outcome.FAILED, message, observed=served, limit=expected, **evidence)
    return Finding(Outcome.PASSED, f"serves version {served} as expected", observed=served, limit=expected, **evidence)


def _normalise_version(text: str) -> str:
    text = text.strip()
    return text[1:] if text[:1] in ("v", "V") and text[1:2].isdigit() else text


def _field(body: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(body, dict):
            return None
        body = body.get(part)
    return body


def _excerpt(result: HttpResult, limit: int = 200) -> str:
    text = json.dumps(result.json, separators=(",", ":")) if result.json is not None else result.body.strip()
    return (text[:limit] + "…") if len(text) > limit else (text or "(empty)")


def _evidence(result: HttpResult) -> dict[str, Any]:
    source = result.request.describe()
    source["attempts"] = result.attempts
    return {"source": source, "duration_ms": result.elapsed_ms, "samples": 1}
