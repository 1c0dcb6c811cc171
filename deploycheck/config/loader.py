"""Environment configuration: load `environments/<env>.yaml` into a typed `Environment`, or say everything that is
wrong with it in one `ConfigError` (file, line:column, key path, what was expected and found, the fix).

Layers, each overriding the last: the model's defaults -> the file's `defaults:` -> the service's own keys -> the
command line (`Overrides`). Mappings merge key by key; an explicit `null` switches a section off for a service.

`${VAR}` and `${VAR:-default}` are resolved from the process environment for the selected services only, and for
the later sections (prometheus, database, ...) only those named in `sections`. The other sections are still
validated; a value whose variable is unset there becomes an `Unresolved` stand-in that raises `ConfigError` as soon
as it is used (and the section's `resolved` is False), so it can never pass for an empty or made-up value.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from deploycheck.config import compose
from deploycheck.config.durations import parse_duration, parse_timeout
from deploycheck.config.environment import Environment, Overrides, Service
from deploycheck.config.errors import ConfigError, KeyPath, dotted
from deploycheck.config.messages import describe
from deploycheck.config.model import (
    ENVIRONMENT_SECTIONS,
    SERVICE_SECTIONS,
    TLS,
    Demo,
    FlowOptions,
)
from deploycheck.config.variables import SECRET_KEY, Resolution, Unresolved, VariableResolver
from deploycheck.config.yaml_safe import read_yaml
from deploycheck.flows import check as flow_check
from deploycheck.kinds.http.config import Endpoint, VersionEndpoint

__all__ = [
    "TLS",
    "ConfigError",
    "Demo",
    "Endpoint",
    "Environment",
    "FlowOptions",
    "Overrides",
    "Service",
    "Unresolved",
    "VersionEndpoint",
    "available_environments",
    "environment_file",
    "load_environment",
    "parse_duration",
    "parse_timeout",
]

SECTIONS = frozenset(ENVIRONMENT_SECTIONS + SERVICE_SECTIONS)
ModelT = TypeVar("ModelT", bound=BaseModel)


def environment_file(directory: Path, name: str) -> Path:
    return directory / f"{name}.yaml"


def available_environments(directory: Path) -> list[str]:
    return sorted(path.stem for path in directory.glob("*.yaml"))


def load_environment(
    directory: Path,
    name: str,
    selected: list[str] | None = None,
    overrides: Overrides | None = None,
    environ: Mapping[str, str] | None = None,
    sections: Collection[str] | None = None,
    python_flows: Mapping[str, str] | None = None,
) -> Environment:
    """Load and validate one environment for the `selected` services (None: all).

    `python_flows` (name -> where written): the flows written in Python, besides the built-in ones, when known
    (`validate`); then each service's `flows` entries must name a flow. A run checks them once it has collected.

    `sections`: the later sections whose `${VAR}`s must be set (None: all; `()`: none, only the core keys url,
    timeout, health, ready, version, headers, tls, severity, flows and demo are resolved then).
    """
    every = SECTIONS | set(compose.PLUGGED)
    unknown = set(sections or ()) - every
    if unknown:
        raise ValueError(f"no such section {sorted(unknown)[0]!r} (sections: {', '.join(sorted(every))})")
    path = environment_file(directory, name)
    if not path.is_file():
        known = ", ".join(available_environments(directory)) or "none"
        raise ConfigError(path, "", f"no such environment {name!r} (environments in {directory}: {known})")
    document = read_yaml(path)
    loader = _Loader(path, document.positions, os.environ if environ is None else environ, sections, python_flows)
    return loader.environment(document.data, name, selected, overrides or Overrides())


class _Loader:
    """One file: collects every problem, then raises them together."""

    def __init__(
        self,
        source: Path,
        positions: Mapping[KeyPath, tuple[int, int]],
        environ: Mapping[str, str],
        sections: Collection[str] | None,
        python_flows: Mapping[str, str] | None = None,
    ) -> None:
        self.source = source
        self.python_flows = python_flows
        self.listed: list[tuple[KeyPath, str]] = []  # (where in the file, flow name) of every service's `flows`
        self.positions = positions
        self.environ = environ
        self.variables = VariableResolver(environ, str(source))
        self.sections = None if sections is None else frozenset(sections)
        self.problems: list[ConfigError] = []

    def problem(self, path: KeyPath, reason: str) -> None:
        self.problems.append(ConfigError(self.source, dotted(path), reason, *_position(self.positions, path)))

    def needed(self, path: KeyPath, later_sections: tuple[str, ...]) -> bool:
        """Must the variables at `path` be set? Core keys always; a later section if this run reads it."""
        section = path[0] if path and path[0] in later_sections else None
        return section is None or self.sections is None or section in self.sections

    def environment(self, data: Any, name: str, selected: list[str] | None, overrides: Overrides) -> Environment:
        if not isinstance(data, dict):
            raise ConfigError(self.source, "", "the file must be a mapping with at least `environment` and `services`")
        # Declared flows keep their `${...}`: the run id and saved values exist only when a step is sent.
        unresolved = ("defaults", "services", "declared_flows")
        top = {key: value for key, value in data.items() if key not in unresolved}
        later = (*ENVIRONMENT_SECTIONS, *compose.plugged("environment"))
        resolution = self.variables.resolve(top, lambda path: self.needed(path, later), dotted)
        raw_services, raw_defaults = data.get("services"), data.get("defaults")
        layers = {key: data[key] for key in unresolved if key in data}  # services and defaults: checked per service
        shape = self.validate(compose.environment_shape(), {**resolution.data, **layers}, resolution)
        if data.get("environment") != name and isinstance(data.get("environment"), str):
            self.problem(("environment",), f"must be {name!r} (the file's name), found {data['environment']!r}")
        if not isinstance(raw_services, dict) or not raw_services:
            raise ConfigError.several(self.problems)
        unknown = [service for service in selected or [] if service not in raw_services]
        if unknown:
            reason = f"no service {unknown[0]!r} in this environment (configured: {', '.join(raw_services)})"
            raise ConfigError(self.source, "services", reason, *self.positions.get(("services",), (1, 1)))

        demo = self.demo(shape.demo, list(raw_services)) if shape is not None and shape.demo is not None else None
        # A broken `demo:` was reported already; its services then miss no URL.
        started = set(demo.services if demo else raw_services if data.get("demo") is not None else ())
        defaults = raw_defaults if isinstance(raw_defaults, dict) else {}
        services: dict[str, Service] = {}
        for service in selected or raw_services:
            built = self.service(service, defaults, raw_services[service], service in started, overrides)
            if built is not None:
                services[service] = built
        if shape is not None:
            self.flows(shape.declared_flows or {}, services)
        if self.problems or shape is None:
            raise ConfigError.several(self.problems)
        return Environment(
            name=name,
            source=self.source,
            services=services,
            requires_approval=shape.requires_approval,
            allow_probe_traffic=shape.allow_probe_traffic,
            allow_mutating_flows=shape.allow_mutating_flows,
            declared_flows=dict(shape.declared_flows or {}),
            demo=demo,
            secrets=tuple(self.variables.secrets.values()),
            prometheus=shape.prometheus,
            alertmanager=shape.alertmanager,
            kubernetes=shape.kubernetes,
            notifications=shape.notifications,
            plugged={name: getattr(shape, name) for name in compose.plugged("environment")},
        )

    def flows(self, declared: Mapping[str, Any], services: Mapping[str, Service]) -> None:
        """What a run would refuse in the declared flows: values they cannot have, names of built-in flows."""
        used = {flow for service in services.values() for flow in service.flows}
        for name, flow in declared.items():
            for path, reason in flow_check.value_problems(name, flow, self.environ, name in used):
                self.problem(path, reason)
        python = {**(self.python_flows or {}), **flow_check.built_in_flows()}
        listed = self.listed if self.python_flows is not None else ()
        for path, reason in flow_check.name_problems(list(declared), python, listed):
            self.problem(path, reason)

    def demo(self, demo: Demo, services: list[str]) -> Demo:
        for index, service in enumerate(demo.services):
            if service not in services:
                self.problem(
                    ("demo", "services", index), f"no service {service!r} in `services` ({', '.join(services)})"
                )
        started = demo.services or tuple(services)
        for service in demo.faults:
            if service not in started:
                self.problem(("demo", "faults", service), f"not a demo service (the demo starts: {', '.join(started)})")
        return dataclasses.replace(demo, services=started)

    def service(
        self, name: str, defaults: dict[str, Any], body: Any, started_by_demo: bool, overrides: Overrides
    ) -> Service | None:
        where: KeyPath = ("services", name)
        if body is not None and not isinstance(body, dict):
            return None  # the top level's validation said so
        merged, origins = merge_layers([(("defaults",), defaults), (where, body or {})])

        def origin(loc: KeyPath) -> KeyPath:
            known = next(end for end in range(len(loc), -1, -1) if loc[:end] in origins or end == 0)
            return (*origins.get(loc[:known], where), *loc[known:])

        later = (*SERVICE_SECTIONS, *compose.plugged("service"))
        resolution = self.variables.resolve(
            merged, lambda path: self.needed(path, later), lambda path: dotted(origin(path))
        )
        spec = self.validate(compose.service_spec(), resolution.data, resolution, origin)
        if spec is None or resolution.problems:
            return None  # said already; what is missing now is missing because of that
        url = spec.url
        if url is None and not started_by_demo:
            self.problem((*where, "url"), "missing: the base URL of the service, e.g. https://api.example.com")
            return None
        flows = spec.flows or ()
        self.listed += [(origin(("flows", index)), flow) for index, flow in enumerate(flows)]
        for flow in spec.flow_options or {}:
            if flow not in flows:
                reason = f"not one of the service's `flows` ({', '.join(flows) or 'none'}): add it there"
                self.problem(origin(("flow_options", flow)), reason)
        return Service(
            name=name,
            url=url or "",  # "" until the demo has started it (Environment.with_urls)
            timeout_s=spec.timeout if overrides.timeout_s is None else overrides.timeout_s,
            health=spec.health,
            ready=spec.ready,
            version=spec.version,
            flows=flows,
            severity=dict(spec.severity or {}),
            headers=dict(spec.headers or {}),
            tls=spec.tls or TLS(),
            flow_options=dict(spec.flow_options or {}),
            **{section: getattr(spec, section) for section in SERVICE_SECTIONS},
            plugged={name: getattr(spec, name) for name in compose.plugged("service")},
        )

    def validate(
        self,
        model: type[ModelT],
        data: Any,
        resolution: Resolution,
        origin: Callable[[KeyPath], KeyPath] = lambda loc: loc,
    ) -> ModelT | None:
        """`model` from `data`, or None with every problem (of the variables too) recorded at its origin."""
        for path, reason in resolution.problems:
            self.problem(origin(path), reason)
        try:
            return model.model_validate(data)
        except ValidationError as error:
            for detail in error.errors(include_url=False):
                loc = tuple(part for part in detail["loc"] if part != "[key]")  # a bad key: point at the key
                if any(loc[: len(path)] == path for path, _ in resolution.problems):
                    continue  # its unset variable is the problem, already said
                hide = (
                    loc in resolution.from_variables
                    or any(_secret_like(part) for part in loc)
                    or "@" in str(detail["input"])  # a URL with user:password@
                )
                self.problem(origin(loc), describe(detail, model, hide))
            return None


def check_flow_names(environment: Environment, python_flows: Mapping[str, str]) -> None:
    """Raise one `ConfigError` for every declared flow named like a Python flow (`python_flows`: name -> where
    written) and every flow a service lists that nothing defines; they are known once the Python flows are."""
    positions = read_yaml(environment.source).positions
    listed: list[tuple[KeyPath, str]] = []
    for service_name, service in environment.services.items():
        for index, flow in enumerate(service.flows):
            own: KeyPath = ("services", service_name, "flows", index)
            listed.append(
                (
                    own
                    if own in positions or ("defaults", "flows", index) not in positions
                    else ("defaults", "flows", index),
                    flow,
                )
            )
    problems = flow_check.name_problems(list(environment.declared_flows), python_flows, listed)
    errors = [
        ConfigError(environment.source, dotted(path), reason, *_position(positions, path)) for path, reason in problems
    ]
    if errors:
        raise ConfigError.several(errors)


def _position(positions: Mapping[KeyPath, tuple[int, int]], path: KeyPath) -> tuple[int, int]:
    known = next((path[:end] for end in range(len(path), -1, -1) if path[:end] in positions), ())
    return positions.get(known, (1, 1))


def _secret_like(part: str | int) -> bool:
    return isinstance(part, str) and (part == "headers" or SECRET_KEY.search(part) is not None)


def merge_layers(layers: list[tuple[KeyPath, dict[str, Any]]]) -> tuple[dict[str, Any], dict[KeyPath, KeyPath]]:
    """Later layers win; mappings merge key by key. Also where each merged value came from (its key path in the
    file), so an error in a default points at `defaults:`, not at every service."""
    merged: dict[str, Any] = {}
    origins: dict[KeyPath, KeyPath] = {}

    def record(value: Any, here: KeyPath, source: KeyPath) -> None:
        origins[here] = source
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for key, item in items:
            record(item, (*here, key), (*source, key))

    def put(target: dict[str, Any], layer: dict[str, Any], here: KeyPath, source: KeyPath) -> None:
        for key, value in layer.items():
            if isinstance(value, dict) and isinstance(target.get(key), dict):
                target[key] = dict(target[key])  # a copy: the layers themselves stay as they are
                origins[(*here, key)] = (*source, key)
                put(target[key], value, (*here, key), (*source, key))
            else:
                for stale in [path for path in origins if path[: len(here) + 1] == (*here, key)]:
                    del origins[stale]
                target[key] = value
                record(value, (*here, key), (*source, key))

    for source, layer in layers:
        put(merged, layer, (), source)
    return merged, origins
