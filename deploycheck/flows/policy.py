"""The mutating policy: where a flow that changes data may run, and why not elsewhere."""

from __future__ import annotations

from typing import Any

from deploycheck.actions.approval import allowed_by
from deploycheck.config.environment import Environment

NOT_ALLOWED = (
    "{flow} changes data and {environment} does not allow it (allow_mutating_flows: false): "
    "pass --allow-mutating to run it"
)
NEEDS_APPROVAL = "{flow} changes data and {environment} requires approval: pass --approve (with --allow-mutating)"


def refusal(flow: str, environment: Environment, allow_mutating: bool, approve: Any) -> str | None:
    """Why a flow that changes data may not run here (None: it may): the environment allows it or
    --allow-mutating says so, and, where the environment requires approval, --approve gives it."""
    if not (environment.allow_mutating_flows or allow_mutating):
        return NOT_ALLOWED.format(flow=flow, environment=environment.name)
    if allowed_by(environment, approve) is None:
        return NEEDS_APPROVAL.format(flow=flow, environment=environment.name)
    return None
