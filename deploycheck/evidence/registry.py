"""The registries of the seam: kinds by name (imported only when a run needs them), probes and sessions by name.

A kind is a package that gathers and judges one kind of evidence (`deploycheck/kinds/<kind>/`, or a team's own
module). It is registered by name with the dotted path of the module(s) that register its probes and sessions,
and the configuration sections that bring it into a run, as testinfra's `modules/__init__.py` maps names to
dotted paths: nothing of a kind is imported until a selected service (or the environment) configures one of its
sections, or a check asks for one of its probes. Teams add kinds through the same registry: the pytest hook
`pytest_deploycheck_kinds(registry)` (a `conftest.py`) or the entry-point group `deploycheck.kinds` (a pip
plugin), or register a probe directly with `register(Probe(...))`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from importlib.metadata import entry_points

from deploycheck.config.compose import PluggedSection, plug
from deploycheck.config.environment import Environment, Service
from deploycheck.evidence.probe import Fetcher, Probe

PROBES: dict[str, Probe] = {}
SESSIONS: dict[str, Callable[[], AbstractAsyncContextManager[Fetcher]]] = {}  # session name -> its factory


def register(probe: Probe) -> Probe:
    """A probe, by name: its fixture of the same name is minted when the run is configured."""
    PROBES[probe.name] = probe
    return probe


def register_session(name: str, session: Callable[[], AbstractAsyncContextManager[Fetcher]]) -> None:
    """The session that gathers the probes whose `kind` is `name`."""
    SESSIONS[name] = session


@dataclass(frozen=True)
class Kind:
    name: str
    modules: tuple[str, ...]  # imported to register its probes and sessions
    sections: tuple[str, ...]  # the configuration sections (service or environment level) that bring it in
    probes: tuple[str, ...] = ()  # its probes of a service: their fixtures exist before it is imported
    environment_probes: tuple[str, ...] = ()  # its probes of the whole environment
    config: tuple[PluggedSection, ...] = ()  # a kind from outside: its sections (the built-in ones are in the model)
    origin: str = "a plugin"  # where it comes from: "built-in", or the team's conftest.py or package


class KindRegistry:
    def __init__(self, kinds: Iterable[Kind] = ()) -> None:
        self._kinds: dict[str, Kind] = {}
        self._loaded: set[str] = set()
        for kind in kinds:
            self.add(kind)

    def add(self, kind: Kind) -> Kind:
        known = self._kinds.get(kind.name)
        if known is not None and known.modules != kind.modules:
            raise ValueError(f"kind {kind.name!r} is registered twice: by {known.origin} and by {kind.origin}")
        for section in kind.config:
            plug(section)
        self._kinds[kind.name] = kind
        return kind

    def __iter__(self) -> Iterator[Kind]:
        return iter(self._kinds.values())

    def __getitem__(self, name: str) -> Kind:
        return self._kinds[name]

    def load(self, name: str) -> Kind:
        """Import the kind's modules (once): its probes and sessions are registered."""
        kind = self._kinds[name]
        if name not in self._loaded:
            for module in kind.modules:
                importlib.import_module(module)
            self._loaded.add(name)
        return kind

    def credit(self, names: Iterable[str], origin: str) -> None:
        """Say where kinds come from (an entry point and its distribution), whatever the kind said itself."""
        for name in names:
            self._kinds[name] = replace(self._kinds[name], origin=origin)

    def loaded(self) -> set[str]:
        return set(self._loaded)

    def load_for(self, environment: Environment) -> list[str]:
        """Import the kinds whose sections the environment or one of its selected services configures."""
        holders: list[Environment | Service] = [environment, *environment.services.values()]
        wanted = [
            kind.name
            for kind in self._kinds.values()
            if any(holder.section(section) is not None for holder in holders for section in kind.sections)
        ]
        for name in wanted:
            self.load(name)
        return wanted

    def probe_scopes(self) -> dict[str, str]:
        """Every probe a check may ask for, and its scope: those of every kind (imported or not) and those
        registered directly."""
        scopes = {name: "service" for kind in self._kinds.values() for name in kind.probes}
        scopes.update({name: "environment" for kind in self._kinds.values() for name in kind.environment_probes})
        scopes.update({name: probe.scope for name, probe in PROBES.items()})
        return scopes

    def probe(self, name: str) -> Probe:
        """A probe by name, importing its kind first if it has not been."""
        if name not in PROBES:
            for kind in self._kinds.values():
                if name in kind.probes or name in kind.environment_probes:
                    self.load(kind.name)
        return PROBES[name]

    def is_probe(self, name: str) -> bool:
        return name in PROBES or any(
            name in kind.probes or name in kind.environment_probes for kind in self._kinds.values()
        )


BUILT_IN = tuple(
    replace(kind, origin="built-in")
    for kind in (
        Kind(
            "http", ("deploycheck.kinds.http.probes",), ("health", "ready", "version"), ("health", "ready", "version")
        ),
        Kind(
            "metrics",
            ("deploycheck.kinds.metrics.probes", "deploycheck.kinds.metrics.alert_selectors"),
            ("prometheus", "alertmanager", "metrics", "slo", "baseline", "alerts", "resources"),
            ("traffic", "baseline_traffic", "usage"),
            ("firing_alerts", "alert_selectors"),
        ),
        Kind("kubernetes", ("deploycheck.kinds.kubernetes.probes",), ("kubernetes",), ("rollout",)),
        Kind("database", ("deploycheck.kinds.database.probes",), ("database",), ("database",)),
        Kind("grpc", ("deploycheck.kinds.grpc.probes",), ("grpc",), ("grpc_health",)),
    )
)
ENTRY_POINTS = "deploycheck.kinds"  # each names a function that takes the registry, as the pytest hook does


def add_installed(registry: KindRegistry) -> None:
    """The kinds of installed packages (the entry-point group `deploycheck.kinds`)."""
    for entry_point in entry_points(group=ENTRY_POINTS):
        distribution = entry_point.dist.name if entry_point.dist is not None else "an unnamed distribution"
        origin = f"entry point {ENTRY_POINTS}:{entry_point.name} of {distribution}"
        before = {kind.name for kind in registry}
        try:
            entry_point.load()(registry)
        except Exception as error:  # a broken plugin is the operator's to fix: say which one, not a traceback
            problem = f"{type(error).__name__}: {error}"
            raise KindError(f"the {origin} ({entry_point.value}) could not add its kind: {problem}") from None
        registry.credit([kind.name for kind in registry if kind.name not in before], origin)


class KindError(Exception):
    """An installed kind that could not be added: the message names its entry point and distribution."""


REGISTRY = KindRegistry(BUILT_IN)  # the run's kinds: the built-in ones, and those the hook and entry points add
