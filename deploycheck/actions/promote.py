"""Blue-green promotion (`--promote`): the idle colour is checked through its own URL first (`preview_url`), and
traffic is switched to it only on PASS; then it is verified through the live URL, and switched back if it fails
there. The previous colour is left as it was, for a rollback.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from deploycheck.actions.approval import allowed_by
from deploycheck.actions.plan import plan
from deploycheck.actions.strategies import ActionFailed, act
from deploycheck.actions.verify import verify
from deploycheck.config.loader import Environment, Service
from deploycheck.kinds.kubernetes.probes import access_of

ACTION = "promote"
FAILED = ("failed", "switched back")


def preview(environment: Environment) -> tuple[Environment, dict[str, str]]:
    """The environment whose blue-green services are checked through their `preview_url`, and their live URLs."""
    live: dict[str, str] = {}
    previews: dict[str, str] = {}
    for name, service in environment.services.items():
        rollback = service.rollback
        if rollback is not None and rollback.strategy == "blue-green" and rollback.preview_url is not None:
            live[name], previews[name] = service.url, rollback.preview_url
    return environment.with_urls(previews), live


def promote(
    environment: Environment, live: Mapping[str, str], document: Mapping[str, Any], approve: bool, dry_run: bool
) -> list[dict[str, Any]]:
    """One `promote` action per blue-green service checked through its preview URL."""
    if not live:
        return [
            {"action": ACTION, "result": "not done", "reason": "no blue-green service has a `rollback.preview_url`"}
        ]
    verdict = document["verdict"]
    actions = []
    for name, url in live.items():
        record: dict[str, Any] = {"action": ACTION, "service": name}
        service = environment.services[name]
        if verdict != "PASS":
            why = f"verdict {verdict}: the idle colour stays idle, traffic stays where it is"
            actions.append({**record, "result": "not done", "reason": why})
            continue
        actions.append({**record, **_one(environment, service, url, approve, dry_run)})
    return actions


def _one(environment: Environment, service: Service, live_url: str, approve: bool, dry_run: bool) -> dict[str, Any]:
    assert service.rollback is not None
    switch = plan(environment, service)
    described = {"object": switch.target, "from": switch.current, "to": switch.restore}
    if switch.problem is not None:
        return {**described, "result": "failed", "reason": f"cannot plan the switch: {switch.problem}"}
    if dry_run:
        return {**described, "result": "planned", "reason": "--dry-run: nothing changed"}
    approval = allowed_by(environment, approve)
    if approval is None:
        reason = f"environment {environment.name} requires approval: rerun with --approve to promote"
        return {**described, "result": "refused", "reason": reason}
    described["approval"] = approval
    access = access_of(environment)
    started = time.monotonic()
    deadline = time.time() + service.rollback.timeout
    try:
        act(access, switch, service.rollback)
    except ActionFailed as error:
        return {**described, "result": "failed", "reason": str(error), "duration_s": _since(started)}
    live = environment.with_urls({service.name: live_url})
    ok, checked = verify(live, live.services[service.name], switch, deadline)
    if ok:
        result, reason = "promoted", f"{switch.details['key']}={switch.details['from']} kept for a rollback"
    else:
        back = replace(switch, details={**switch.details, "to": switch.details["from"]})
        result = "switched back"
        try:
            act(access, back, service.rollback)
            reason = f"failed through the live URL, traffic switched back to {switch.details['from']}"
        except ActionFailed as error:
            reason = f"failed through the live URL, and switching back failed too: {error}"
    return {
        **described,
        "result": result,
        "verified": "; ".join(checked),
        "reason": reason,
        "duration_s": _since(started),
    }


def failed(actions: list[dict[str, Any]]) -> bool:
    return any(action.get("action") == ACTION and action.get("result") in FAILED for action in actions)


def _since(started: float) -> float:
    return round(time.monotonic() - started, 2)
