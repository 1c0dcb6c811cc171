"""What a probe is: a named piece of evidence, the session that gathers it, the request it plans, the settings
of the run it plans with. The contract every kind implements; nothing here knows a kind."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from deploycheck.config.environment import Environment, Service
from deploycheck.evidence.base import Evidence

ProbeKey = tuple[str | None, str]  # (service name, or None for the environment; probe name)


class Request(Protocol):
    """What a kind's `plan` returns: bounded by its own deadline, and described as evidence (never a secret). A
    request whose fetch takes longer than one timeout (two scrapes and the wait between) says so in `deadline_s`."""

    @property
    def timeout_s(self) -> float: ...

    def describe(self) -> dict[str, Any]: ...


def deadline_of(request: Any) -> float:
    """The longest a fetch of the request may take: its `deadline_s` if it has one, else its `timeout_s`."""
    return float(getattr(request, "deadline_s", getattr(request, "timeout_s", 0.0)))


class Fetcher(Protocol):
    """A kind's session: an async context manager whose `fetch` never raises for a target that failed."""

    async def fetch(self, request: Any) -> Evidence: ...


@dataclass(frozen=True)
class Probe:
    name: str  # also the name of its fixture
    kind: str  # which session gathers it (a name in `registry.SESSIONS`)
    section: str  # the configuration section it reads; judged when a check that uses it runs
    plan: Callable[[Environment, Service | None, GatherSettings], Any]  # the request; None: nothing configured
    scope: Literal["service", "environment"] = "service"
    good: Callable[[Evidence, Service | None], bool] | None = None  # --wait-ready retries until this holds
    # The service's sections that the checks of this evidence judge besides `section` (the limits they read).
    also_judges: tuple[str, ...] = ()


class NotConfigured(LookupError):
    """The probe does not apply: its section is not configured for this service."""


@dataclass(frozen=True)
class GatherSettings:
    wait_ready_s: float = 0.0
    now: float = field(default_factory=time.time)  # one "now" for every query of the run, so their windows agree
    deployed_at: float | None = None  # when the rollout began: the baseline window ends there, the current starts
    recorded_baseline: Mapping[str, Any] = field(default_factory=dict)  # service -> Traffic, from --baseline FILE
    baseline_file: str | None = None
    replay: bool = False  # --at: "now" is a past moment, read from Prometheus's history
    probe_traffic: int | None = None  # --probe-traffic: requests the suite adds to thin windows (None: as configured)
