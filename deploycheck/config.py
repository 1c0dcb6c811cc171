"""Environment configuration: load `environments/<env>.yaml`, validate it, resolve `${VAR}` references.

Layers, each overriding the last: built-in defaults -> the file's `defaults:` -> the service's own keys -> the
command line (`Overrides`). A bad file raises `ConfigError` naming the file, the key path and the fix; nothing is
half-loaded. Values of secret-bearing keys (token, password, dsn, secret) become `Secret`s.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from deploycheck.secrets import Redactor, Secret

SEVERITIES = ("critical", "warning")
SECRET_KEYS = re.compile(r"(?i)(token|password|passwd|dsn|secret)")
_VAR = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")
_DURATION = re.compile(r"^\s*(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}

BUILTIN_SERVICE_DEFAULTS: dict[str, Any] = {"timeout": "5s", "flows": [], "severity": {}}


class ConfigError(Exception):
    """The configuration cannot be used: says which file, which key, and what to do."""

    def __init__(self, source: Path | str, key_path: str, reason: str) -> None:
        self.source = str(source)
        self.key_path = key_path
        self.reason = reason
        where = f"{self.source}: {key_path}: " if key_path else f"{self.source}: "
        super().__init__(where + reason)


# --------------------------------------------------------------------------------------------------------------
# The model


@dataclass(frozen=True)
class Endpoint:
    """An HTTP endpoint a check requests, and what a good answer looks like."""

    path: str
    expect_status: int = 200
    expect: Mapping[str, Any] = field(default_factory=dict)  # JSON fields that must have these values


@dataclass(frozen=True)
class VersionEndpoint:
    path: str
    field: str = "version"  # dotted path into the JSON body, e.g. "build.version"


@dataclass(frozen=True, repr=False)
class Service:
    name: str
    url: str
    timeout_s: float
    health: Endpoint | None = None
    ready: Endpoint | None = None
    version: VersionEndpoint | None = None
    flows: tuple[str, ...] = ()
    severity: Mapping[str, str] = field(default_factory=dict)  # check id -> critical | warning
    # Sections whose checks arrive in later work (kubernetes, metrics, database, rollback, slo, baseline):
    # validated as mappings and kept as they are.
    sections: Mapping[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Service({self.name!r}, url={Redactor()(self.url)!r})"  # the URL may carry a password

    def severity_of(self, check: str) -> str:
        """`critical` decides the verdict; `warning` is reported only. Matches a check id or its group."""
        group = check.split(".", 1)[0]
        return self.severity.get(check, self.severity.get(group, "critical"))


@dataclass(frozen=True)
class Demo:
    """The bundled demo services, started on loopback for this environment (the `local` environment)."""

    services: tuple[str, ...]
    latency_ms: int = 0
    version: str = "v2.3.1"
    faults: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Environment:
    name: str
    source: Path
    services: Mapping[str, Service]
    requires_approval: bool = False
    demo: Demo | None = None
    sections: Mapping[str, Any] = field(default_factory=dict)  # prometheus, kubernetes: for later checks
    secrets: tuple[Secret, ...] = ()  # every secret value resolved while loading, for redaction

    def unstarted(self) -> list[str]:
        """Selected services the demo must start before they can be checked (they have no URL yet)."""
        return [name for name, service in self.services.items() if not service.url]

    def with_urls(self, urls: Mapping[str, str]) -> Environment:
        services = {
            name: replace(service, url=urls[name].rstrip("/")) if name in urls else service
            for name, service in self.services.items()
        }
        return replace(self, services=services)


@dataclass(frozen=True)
class Overrides:
    """What the command line changes, applied last."""

    timeout_s: float | None = None


# --------------------------------------------------------------------------------------------------------------
# Loading


def environment_file(directory: Path, name: str) -> Path:
    return directory / f"{name}.yaml"


def available_environments(directory: Path) -> list[str]:
    return sorted(path.stem for path in directory.glob("*.yaml"))


def read_raw(directory: Path, name: str) -> dict[str, Any]:
    """The file's mapping as YAML gives it, with no `${VAR}` resolved; errors say where."""
    path = environment_file(directory, name)
    if not path.is_file():
        known = ", ".join(available_environments(directory)) or "none"
        raise ConfigError(path, "", f"no such environment {name!r} (environments in {directory}: {known})")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(path, "", f"invalid YAML: {where}{problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(path, "", "the file must be a mapping with at least `environment` and `services`")
    return data


def load_environment(
    directory: Path,
    name: str,
    selected: list[str] | None = None,
    overrides: Overrides | None = None,
    environ: Mapping[str, str] | None = None,
) -> Environment:
    """Load and validate one environment; `${VAR}`s are resolved for the selected services only."""
    raw = read_raw(directory, name)
    loader = _Loader(environment_file(directory, name), os.environ if environ is None else environ)
    return loader.environment(raw, name, selected, overrides or Overrides())


def parse_duration(value: Any, source: Path | str = "<command line>", key_path: str = "") -> float:
    """'120s', '2m', '500ms', '1h' or a number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ConfigError(source, key_path, f"expected a duration like 30s, 2m or 500ms, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ConfigError(source, key_path, f"expected a duration like 30s, 2m or 500ms, got {value!r}")
    return float(match["number"]) * _UNIT_SECONDS[match["unit"]]


class _Loader:
    """Validation of one file; every error carries the file and the key path."""

    def __init__(self, source: Path, environ: Mapping[str, str]) -> None:
        self.source = source
        self.environ = environ
        self.secrets: list[Secret] = []

    def fail(self, key_path: str, reason: str) -> ConfigError:
        return ConfigError(self.source, key_path, reason)

    # ---- generic helpers

    def mapping(self, value: Any, key_path: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(key_path, f"expected a mapping, got {type(value).__name__} {value!r}")
        for key in value:
            if key not in allowed:
                raise self.fail(f"{key_path}.{key}", f"unknown key (allowed here: {', '.join(allowed)})")
        return value

    def string(self, value: Any, key_path: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(key_path, f"expected a non-empty string, got {value!r}")
        return value

    def resolve(self, value: Any, key_path: str) -> Any:
        """Replace `${VAR}` and `${VAR:-default}` everywhere inside `value`; secret keys become `Secret`s."""
        if isinstance(value, dict):
            return {key: self.resolve(item, f"{key_path}.{key}") for key, item in value.items()}
        if isinstance(value, list):
            return [self.resolve(item, f"{key_path}[{index}]") for index, item in enumerate(value)]
        if not isinstance(value, str) or "${" not in value:
            return value

        def substitute(match: re.Match[str]) -> str:
            name, default = match["name"], match["default"]
            if name in self.environ:
                return self.environ[name]
            if default is not None:
                return default
            raise self.fail(key_path, f"${{{name}}} is not set: export {name}=... before running")

        resolved = _VAR.sub(substitute, value)
        leaf = key_path.rsplit(".", 1)[-1]
        if SECRET_KEYS.search(leaf):
            secret = Secret(resolved)
            self.secrets.append(secret)
            return secret
        return resolved

    # ---- sections

    def environment(
        self, raw: dict[str, Any], name: str, selected: list[str] | None, overrides: Overrides
    ) -> Environment:
        top = self.mapping(
            raw,
            "",
            (
                "environment",
                "requires_approval",
                "demo",
                "defaults",
                "services",
                "prometheus",
                "kubernetes",
            ),
        )
        declared = top.get("environment")
        if declared != name:
            raise self.fail("environment", f"must be {name!r} (the file's name), found {declared!r}")
        approval = top.get("requires_approval", False)
        if not isinstance(approval, bool):
            raise self.fail("requires_approval", f"expected true or false, got {approval!r}")
        services_raw = top.get("services")
        if not isinstance(services_raw, dict) or not services_raw:
            raise self.fail("services", "missing: list at least one service with its `url`")

        unknown = [service for service in selected or [] if service not in services_raw]
        if unknown:
            known = ", ".join(services_raw)
            raise self.fail("services", f"no service {unknown[0]!r} in this environment (configured: {known})")

        defaults = self.mapping(top.get("defaults"), "defaults", SERVICE_KEYS)
        demo = self.demo(top.get("demo"), list(services_raw))
        chosen = selected or list(services_raw)
        services = {
            service: self.service(
                service,
                _deep_merge(
                    BUILTIN_SERVICE_DEFAULTS,
                    defaults,
                    self.mapping(services_raw[service], f"services.{service}", SERVICE_KEYS),
                ),
                f"services.{service}",
                overrides,
                started_by_demo=demo is not None and service in demo.services,
            )
            for service in chosen
        }
        sections = {
            key: self.resolve(self.mapping(top.get(key), key, _SECTION_KEYS[key]), key)
            for key in ("prometheus", "kubernetes")
            if top.get(key) is not None
        }
        return Environment(
            name=name,
            source=self.source,
            services=services,
            requires_approval=approval,
            demo=demo,
            sections=sections,
            secrets=tuple(self.secrets),
        )

    def service(
        self, name: str, raw: Any, key_path: str, overrides: Overrides, started_by_demo: bool = False
    ) -> Service:
        raw = self.resolve(self.mapping(raw, key_path, SERVICE_KEYS), key_path)
        url = raw.get("url")
        if url is None and started_by_demo:
            url = ""  # known once the demo has started (Environment.with_urls)
        elif not url:
            raise self.fail(f"{key_path}.url", "missing: the base URL of the service, e.g. https://api.example.com")
        elif not self.string(url, f"{key_path}.url").startswith(("http://", "https://")):
            raise self.fail(f"{key_path}.url", f"must start with http:// or https://, got {url!r}")
        timeout = parse_duration(raw.get("timeout"), self.source, f"{key_path}.timeout")
        if overrides.timeout_s is not None:
            timeout = overrides.timeout_s
        flows = raw.get("flows") or []
        if not isinstance(flows, list) or not all(isinstance(flow, str) for flow in flows):
            raise self.fail(f"{key_path}.flows", f"expected a list of flow names, got {flows!r}")
        severity = raw.get("severity") or {}
        if not isinstance(severity, dict):
            raise self.fail(f"{key_path}.severity", "expected a mapping of check ids to critical or warning")
        for check, level in severity.items():
            if level not in SEVERITIES:
                raise self.fail(f"{key_path}.severity.{check}", f"must be one of {', '.join(SEVERITIES)}")
        return Service(
            name=name,
            url=url.rstrip("/"),
            timeout_s=timeout,
            health=self.endpoint(raw.get("health"), f"{key_path}.health"),
            ready=self.endpoint(raw.get("ready"), f"{key_path}.ready"),
            version=self.version(raw.get("version"), f"{key_path}.version"),
            flows=tuple(flows),
            severity=severity,
            sections={
                key: self.mapping(raw[key], f"{key_path}.{key}", _SECTION_KEYS[key])
                for key in _SECTION_KEYS
                if raw.get(key) is not None and key in SERVICE_KEYS
            },
        )

    def endpoint(self, raw: Any, key_path: str) -> Endpoint | None:
        if raw is None or raw is False:
            return None
        raw = self.mapping(raw, key_path, ("path", "expect_status", "expect"))
        status = raw.get("expect_status", 200)
        if not isinstance(status, int) or not 100 <= status <= 599:
            raise self.fail(f"{key_path}.expect_status", f"expected an HTTP status code, got {status!r}")
        expect = raw.get("expect") or {}
        if not isinstance(expect, dict):
            raise self.fail(f"{key_path}.expect", "expected a mapping of JSON fields to values")
        return Endpoint(path=self.path(raw, key_path), expect_status=status, expect=expect)

    def version(self, raw: Any, key_path: str) -> VersionEndpoint | None:
        if raw is None or raw is False:
            return None
        raw = self.mapping(raw, key_path, ("path", "field"))
        return VersionEndpoint(
            path=self.path(raw, key_path), field=self.string(raw.get("field", "version"), f"{key_path}.field")
        )

    def path(self, raw: dict[str, Any], key_path: str) -> str:
        path = self.string(raw.get("path"), f"{key_path}.path")
        if not path.startswith("/"):
            raise self.fail(f"{key_path}.path", f"must start with '/', got {path!r}")
        return path

    def demo(self, raw: Any, services: list[str]) -> Demo | None:
        if raw is None or raw is False:
            return None
        raw = self.mapping(raw, "demo", ("services", "latency_ms", "version", "faults"))
        names = raw.get("services") or services
        if not isinstance(names, list):
            raise self.fail("demo.services", "expected a list of service names")
        faults = self.mapping(raw.get("faults"), "demo.faults", tuple(names))
        return Demo(
            services=tuple(names),
            latency_ms=int(raw.get("latency_ms", 0)),
            version=str(raw.get("version", "v2.3.1")),
            faults={name: tuple(modes) for name, modes in faults.items()},
        )


SERVICE_KEYS = (
    "url",
    "timeout",
    "health",
    "ready",
    "version",
    "flows",
    "severity",
    "kubernetes",
    "metrics",
    "database",
    "rollback",
    "slo",
    "baseline",
)

# Sections validated only as mappings of known keys until their checks exist.
_SECTION_KEYS: dict[str, tuple[str, ...]] = {
    "prometheus": ("url", "token", "timeout"),
    "kubernetes": ("context", "namespace", "deployment", "container", "kubeconfig"),
    "metrics": ("selector", "latency_metric", "requests_metric"),
    "database": ("dsn", "migrations", "timeout"),
    "rollback": ("strategy", "release", "service", "colours"),
    "slo": ("p95_ms", "error_rate"),
    "baseline": ("window", "max_p95_increase_ms", "max_error_rate_increase", "min_requests"),
}


def _deep_merge(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """Later layers win; mappings merge key by key; an explicit null in a later layer switches a section off."""
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
                merged[key] = _deep_merge(merged[key], value)
            else:
                merged[key] = value
    return merged
