"""The one evidence type of every probe kind.

A probe kind (http, prometheus, kubernetes, ...) turns a request into `Evidence` and never raises for a target that
failed: what went wrong is the evidence. Judging it is the checks' business, not the probe's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Evidence:
    """What was asked (`source`), what came back (`value`), or why nothing usable came (`error`)."""

    source: dict[str, Any]  # what was asked, as evidence (e.g. kind, method, url, timeout_s); never a secret
    value: Any = None  # what came back, kind-specific; None when nothing usable came
    error: str | None = None  # one line, why nothing came: "connection refused", "no answer within 5s (...)"
    elapsed_ms: float = 0.0
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return self.error is None
