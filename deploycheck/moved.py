"""Old module paths that teams' checks import, kept working until deploycheck 2.0 with a DeprecationWarning
that names the new path. No file stands at an old path: `install()` (run by `import deploycheck`) puts a finder on
`sys.meta_path` that answers an old name with the new module itself, so every name, private or not, and every
monkeypatch reach the same object. Removing this module and its call removes every old path at once."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
import warnings
from collections.abc import Sequence
from typing import Any

REMOVED_IN = "deploycheck 2.0"
OLD_PACKAGES = ("deploycheck.probes",)  # held only old modules: an empty package, so its old children resolve
MOVED = {
    "deploycheck.config_model": "deploycheck.config.model",
    "deploycheck.config_types": "deploycheck.config.types",
    "deploycheck.config_variables": "deploycheck.config.variables",
    "deploycheck.config_errors": "deploycheck.config.errors",
    "deploycheck.config_schema": "deploycheck.config.schema",
    "deploycheck.config_messages": "deploycheck.config.messages",
    "deploycheck.config_reference": "deploycheck.config.reference",
    "deploycheck.config_sections": "deploycheck.config.sections",
    "deploycheck.yaml_safe": "deploycheck.config.yaml_safe",
    "deploycheck.environment": "deploycheck.config.environment",
    "deploycheck.durations": "deploycheck.config.durations",
    "deploycheck.probes.base": "deploycheck.evidence.base",
    "deploycheck.probes.http": "deploycheck.kinds.http.session",
    "deploycheck.judge": "deploycheck.kinds.http.rules",
    "deploycheck.probes.prometheus": "deploycheck.kinds.metrics.session",
    "deploycheck.probes.scrape": "deploycheck.kinds.metrics.scrape",
    "deploycheck.metric_evidence": "deploycheck.kinds.metrics.probes",
    "deploycheck.judge_metrics": "deploycheck.kinds.metrics.rules",
    "deploycheck.metric_rules": "deploycheck.kinds.metrics.limits",
    "deploycheck.metrics": "deploycheck.kinds.metrics.traffic",
    "deploycheck.exposition": "deploycheck.kinds.metrics.exposition",
    "deploycheck.confidence": "deploycheck.kinds.metrics.confidence",
    "deploycheck.empty_answers": "deploycheck.kinds.metrics.empty_answers",
    "deploycheck.alert_selectors": "deploycheck.kinds.metrics.alert_selectors",
    "deploycheck.selector_warnings": "deploycheck.kinds.metrics.selector_warnings",
    "deploycheck.baseline_file": "deploycheck.kinds.metrics.baseline_file",
    "deploycheck.watch": "deploycheck.kinds.metrics.watch",
    "deploycheck.probes.kubernetes": "deploycheck.kinds.kubernetes.session",
    "deploycheck.kubernetes_evidence": "deploycheck.kinds.kubernetes.probes",
    "deploycheck.kubernetes_rules": "deploycheck.kinds.kubernetes.rules",
    "deploycheck.probes.postgres": "deploycheck.kinds.database.session",
    "deploycheck.probes.postgres_role": "deploycheck.kinds.database.role",
    "deploycheck.database_evidence": "deploycheck.kinds.database.probes",
    "deploycheck.database_rules": "deploycheck.kinds.database.rules",
    "deploycheck.read_only_sql": "deploycheck.kinds.database.read_only_sql",
    "deploycheck.server": "deploycheck.serve.server",
    "deploycheck.serve_runs": "deploycheck.serve.runs",
    "deploycheck.serve_requests": "deploycheck.serve.requests",
    "deploycheck.serve_catalogue": "deploycheck.serve.catalogue",
    "deploycheck.merge": "deploycheck.serve.merge",
    "deploycheck.scaffold": "deploycheck.serve.scaffold",
}


def moved_name(old: str, module: str, name: str) -> Any:
    """A name an old module had, now in `module` (for a package's `__getattr__`)."""
    warnings.warn(f"{old} moved to {module}.{name} ({old} goes in {REMOVED_IN})", DeprecationWarning, stacklevel=3)
    return getattr(importlib.import_module(module), name)


class OldPaths(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self) -> None:
        self._specs: dict[str, importlib.machinery.ModuleSpec | None] = {}

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname in MOVED or fullname in OLD_PACKAGES:
            return importlib.machinery.ModuleSpec(fullname, self, is_package=fullname in OLD_PACKAGES)
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        if spec.name in OLD_PACKAGES:
            return types.ModuleType(spec.name, "Old paths of moved modules: see deploycheck.moved.")
        new = MOVED[spec.name]
        warnings.warn(
            f"{spec.name} moved to {new}: import {new} ({spec.name} goes in {REMOVED_IN})",
            DeprecationWarning,
            stacklevel=2,
        )
        module = importlib.import_module(new)
        self._specs[new] = module.__spec__
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        # The import system has just set the new module's __spec__ to the old name's: put its own back.
        if module.__name__ in self._specs:
            module.__spec__ = self._specs.pop(module.__name__)


def install() -> None:
    if not any(isinstance(finder, OldPaths) for finder in sys.meta_path):
        sys.meta_path.append(OldPaths())
