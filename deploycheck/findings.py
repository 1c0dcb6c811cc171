"""The record of one judged check: what was observed, against what limit, and the outcome."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    PASSED = "passed"  # evidence gathered, rule held
    FAILED = "failed"  # evidence gathered, rule broken by the service (an unreachable target included)
    INCONCLUSIVE = "inconclusive"  # evidence could not be gathered or is too thin to judge
    SKIPPED = "skipped"  # not applicable to this service; never counted as a pass


@dataclass(frozen=True)
class Finding:
    outcome: Outcome
    message: str  # one line: "observed X, limit Y"
    observed: Any = None
    limit: Any = None
    baseline: Any = None
    unit: str | None = None
    window: str | None = None
    samples: int | None = None
    source: dict[str, Any] = field(default_factory=dict)  # the request or query behind the evidence
    duration_ms: float | None = None  # how long gathering the evidence took
    # How sure the counts behind it make the outcome: n, k, interval, confidence, the rule that decided.
    statistics: dict[str, Any] | None = None
    severity: str = "critical"  # critical decides the verdict; warning is reported only
    check: str = ""  # stable id from the check's module and name, e.g. "health.liveness"; set when recorded
    test: str | None = None  # the pytest node id that produced it
    service: str | None = None  # the service it judged; None for an environment-wide check

    @property
    def deciding(self) -> bool:
        return self.severity == "critical" and self.outcome is not Outcome.SKIPPED

    def but(self, **changes: Any) -> Finding:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        # Shallow, unlike dataclasses.asdict (a deep copy, the larger part of recording a finding): every field
        # is a plain value, and the one place a recorded finding is stored scrubs it into new containers anyway.
        data = {name: getattr(self, name) for name in _FIELDS}
        data["outcome"] = self.outcome.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        return cls(**{**data, "outcome": Outcome(data["outcome"])})


_FIELDS = tuple(item.name for item in fields(Finding))


class CheckFailed(AssertionError):
    """The service broke the rule: raised by a check so pytest reports it failed."""


class Inconclusive(Exception):
    """The evidence could not be gathered or is too thin to judge: neither a pass nor the service's fault."""
