"""Rolling back what a FAIL verdict condemned, once, and only where it is allowed.

Only a FAIL verdict acts (PASS needs nothing; INCONCLUSIVE holds for a person), only for the services whose own
checks failed, only once per service and verdict, and with `--approve` unless the environment's file says
`requires_approval: false` (the record then says so under `approval`). Each service's rollback is planned from the
cluster first (which object, from what to what); a dry run stops there. Each action is one plain dict for
`verdict.json`'s `actions`.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from deploycheck.actions.approval import allowed_by
from deploycheck.actions.plan import Plan, plan
from deploycheck.actions.strategies import ActionFailed, act
from deploycheck.actions.verify import verify
from deploycheck.config.loader import Environment, Service
from deploycheck.kinds.kubernetes.probes import access_of

ACTION = "rollback"
FAILED = "failed"  # the results that make the run's exit status say an action failed
NOT_RECOVERED = "not recovered"


def rollback(
    environment: Environment,
    document: Mapping[str, Any],
    approve: bool,
    dry_run: bool,
    previewed: Collection[str] = (),
) -> list[dict[str, Any]]:
    """The rollback actions this verdict calls for (done, planned, refused or skipped), one per service.

    `previewed`: services checked through their preview URL (--promote): traffic never reached the colour that
    failed, so switching "back" would send it there; they are left alone."""
    verdict = document["verdict"]
    if verdict != "FAIL":
        why = "nothing to roll back" if verdict == "PASS" else "an inconclusive verdict never acts: a person decides"
        return [{"action": ACTION, "result": "not done", "reason": f"verdict {verdict}: {why}"}]
    done = {action.get("service") for action in document.get("actions", ()) if action.get("action") == ACTION}
    failed = [name for name, body in document["services"].items() if body["verdict"] == "FAIL" and name not in done]
    if not failed:
        return [{"action": ACTION, "result": "not done", "reason": "no service's own checks failed"}]
    untouched = [
        {
            "action": ACTION,
            "service": name,
            "result": "not done",
            "reason": "checked through its preview URL (--promote): traffic never went to the colour that failed",
        }
        for name in failed
        if name in previewed
    ]
    services = [environment.services[name] for name in failed if name in environment.services and name not in previewed]
    with ThreadPoolExecutor(max(len(services), 1)) as pool:
        return untouched + list(pool.map(lambda service: _one(environment, service, approve, dry_run), services))


def _one(environment: Environment, service: Service, approve: bool, dry_run: bool) -> dict[str, Any]:
    record: dict[str, Any] = {"action": ACTION, "service": service.name}
    if service.rollback is None:
        return {**record, "result": "not done", "reason": "no `rollback` section configured"}
    if service.rollback.strategy == "none":
        return {**record, "strategy": "none", "result": "not done", "reason": "`rollback.strategy: none`"}
    planned = plan(environment, service)
    record.update(_described(planned))
    if planned.problem is not None:
        return {**record, "result": FAILED, "reason": f"cannot plan the rollback: {planned.problem}"}
    if dry_run:
        return {**record, "result": "planned", "reason": "--dry-run: nothing changed"}
    approval = allowed_by(environment, approve)
    if approval is None:
        reason = f"environment {environment.name} requires approval: rerun with --approve to roll back"
        return {**record, "result": "refused", "reason": reason}
    record["approval"] = approval
    started = time.monotonic()
    deadline = time.time() + service.rollback.timeout
    try:
        record["done"] = act(access_of(environment), planned, service.rollback)
    except ActionFailed as error:
        return {**record, "result": FAILED, "reason": str(error), "duration_s": _since(started)}
    recovered, checked = verify(environment, service, planned, deadline)
    return {
        **record,
        "result": "rolled back" if recovered else NOT_RECOVERED,
        "recovered": recovered,
        "duration_s": _since(started),
        "verified": "; ".join(checked),
    }


def failed(actions: list[dict[str, Any]]) -> bool:
    """Did an action the run was asked for fail (or leave its service broken)?"""
    return any(action.get("action") == ACTION and action.get("result") in (FAILED, NOT_RECOVERED) for action in actions)


def _described(planned: Plan) -> dict[str, Any]:
    return {"strategy": planned.strategy, "object": planned.target, "from": planned.current, "to": planned.restore}


def _since(started: float) -> float:
    return round(time.monotonic() - started, 2)
