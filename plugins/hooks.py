"""The hook deploycheck fires once the verdict is decided: where writers and actions listen."""

from __future__ import annotations

from typing import Any

import pytest


def pytest_deploycheck_verdict(config: pytest.Config, document: dict[str, Any]) -> None:
    """Called once per run, on the controller only (never on an xdist worker), with the verdict document.

    The document is the content of verdict.json, already redacted. An action (a rollback, a notification) runs
    in an ordinary implementation and appends what it did to ``document["actions"]``; the writers of the
    verdict file, the summary and the terminal table are ``trylast`` implementations, so they see the actions.
    """


def pytest_deploycheck_kinds(registry: Any) -> None:
    """Called once per process when the run is configured, with the `KindRegistry`: add a kind of evidence with
    ``registry.add(Kind(name, modules, sections, probes, environment_probes, origin))``. Its modules are imported
    when a selected service (or the environment) configures one of its sections, or a check asks for one of its
    probes; they register the probes (``deploycheck.evidence.register``) and sessions the kind gathers with."""
