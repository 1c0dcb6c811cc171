"""A run that ran fewer checks than apply to its services says so, in one place for every output.

A PASS of `-k alerts` judged the alerts and nothing else: it still promotes (the person who narrowed the run asked
for exactly that), but its verdict line and `verdict.json` say how many of the applicable checks ran and what
narrowed them, so nobody reads it as a PASS of the whole suite.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def narrowed(by: Sequence[str], ran: int, applicable: int | None) -> dict[str, Any] | None:
    """The `narrowed` entry of verdict.json, or None when every applicable check ran.

    `applicable` is None when test files or node ids named on the command line kept the other checks from being
    collected at all: how many apply is then unknown, and the run is narrowed whatever ran."""
    if not by or (applicable is not None and ran >= applicable):
        return None
    return {"by": list(by), "ran": ran, "applicable": applicable}


def describe(narrowing: Mapping[str, Any] | None) -> str:
    """`2 of 22 applicable checks ran: narrowed by -k alerts` (empty when the run was not narrowed)."""
    if not narrowing:
        return ""
    ran, applicable = narrowing["ran"], narrowing["applicable"]
    by = ", ".join(narrowing["by"])
    if applicable is None:
        return f"{ran} check{'s' * (ran != 1)} ran: narrowed by {by}; checks outside it were not collected"
    return f"{ran} of {applicable} applicable checks ran: narrowed by {by}"
