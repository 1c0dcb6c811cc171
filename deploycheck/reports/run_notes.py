"""What a reader must know of how a run went besides its verdict, in the same words in every output (the terminal,
summary.md, webhooks and Slack): a run narrowed by -k, -m or --deselect (`deploycheck.narrowing`), a cancelled run,
and an action (rollback, promotion) that went ahead with the approval its record names, `not required: <file> sets
requires_approval: false` when a file let it act without --approve."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deploycheck import narrowing
from deploycheck.text import one_line

LEFT_CHARS = 300  # one thing a flow left behind, in a chat message (verdict.json has it whole)


def cancelled(section: Mapping[str, Any]) -> str:
    """`cancelled by SIGTERM; 1 flow interrupted, nothing left behind` (`section`: verdict.json's `cancelled`)."""
    flows = section["flows"]
    left = sum(bool(flow["left_behind"]) for flow in flows)
    count = f"{len(flows)} flow{'s' * (len(flows) != 1)} interrupted"
    cleaned = f", {left} left data behind (listed under `cancelled`)" if left else ", nothing left behind"
    why = f"cancelled by {section['signal']}" if section["signal"] else "stopped after flows had run"
    return why + (f"; {count}{cleaned}" if flows else "")


def left_behind(section: Mapping[str, Any]) -> list[str]:
    """One line per thing an interrupted flow left behind: `flow stuck (api-gateway) left behind: ...`."""
    return [
        f"flow {flow['flow']} ({flow['service']}) left behind: {one_line(what, LEFT_CHARS)}"
        for flow in section["flows"]
        for what in flow["left_behind"]
    ]


def approval(action: Mapping[str, Any]) -> str | None:
    """`approval not required: environments/dev.yaml sets requires_approval: false`, for an action that went ahead
    (as `deploycheck.verdict.describe_action` shows it in the terminal and summary.md)."""
    return f"approval {action['approval']}" if action.get("approval") else None


def notes(document: Mapping[str, Any]) -> list[str]:
    """Each of these a verdict document holds, one sentence each."""
    said = [narrowing.describe(document.get("narrowed"))]
    if document.get("cancelled"):
        said.append(cancelled(document["cancelled"]))
    for action in document.get("actions") or ():
        allowed = approval(action)
        if allowed:
            what = " ".join(str(part) for part in (action.get("action"), action.get("service")) if part)
            said.append(f"{what}: {allowed}")
    return [sentence for sentence in said if sentence]
