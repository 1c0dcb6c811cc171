"""`--record-baseline`: a listener of the verdict hook that writes each service's traffic figures, as measured
now, to the baseline file, for `--baseline FILE` to compare against after the deploy. Runs on the controller
only; under xdist it reads what the workers gathered from the run's shared evidence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from deploycheck.demo import DemoError
from deploycheck.kinds.database import rules as database_rules
from deploycheck.kinds.metrics import baseline_file
from deploycheck_plugins.targets import run_key, settings_key

DEFAULT_FILE = "reports/baseline.json"


def pytest_deploycheck_verdict(config: pytest.Config, document: dict[str, Any]) -> None:
    settings = config.stash[settings_key]
    _warn_of_schema_risk(config, document)
    if not settings.record_baseline:
        return
    run = config.stash[run_key]
    path = settings.baseline_file or Path(config.invocation_params.dir) / DEFAULT_FILE
    action: dict[str, Any] = {"action": "record-baseline", "file": str(path)}
    try:
        names = [name for name, service in run.configured.services.items() if service.metrics is not None]
        run.evidence.prefetch([(name, "traffic") for name in names])  # gathered already if a check asked for it
        traffic = {name: run.evidence.get(name, "traffic").value for name in names}
        heads = {name: head for name, head in _schema_heads(run, list(run.configured.services)).items() if head}
        baseline_file.write(path, run.configured.name, traffic, run.settings.now, schema_heads=heads)
    except (DemoError, OSError) as error:
        action.update(result="failed", reason=str(error))
    else:
        action.update(
            result="recorded" if traffic or heads else "nothing to record: no service has `metrics` configured",
            services={
                name: {"requests": figures.requests, "errors": figures.errors, "p95_s": figures.p95_s,
                       "problem": figures.problem}
                for name, figures in traffic.items()
            },
        )  # fmt: skip
        if heads:
            action["schema_heads"] = heads
    document["actions"].append(action)


def _schema_heads(run: Any, names: list[str]) -> dict[str, str | None]:
    """The applied migrations head of each named service's database (None where it could not be read)."""
    with_migrations = {
        name: service.database.migrations
        for name, service in run.configured.services.items()
        if name in names and service.database is not None and service.database.migrations is not None
    }
    run.evidence.prefetch([(name, "database") for name in with_migrations])
    return {
        name: database_rules.head_text(run.evidence.get(name, "database"), migrations)
        for name, migrations in with_migrations.items()
    }


def _warn_of_schema_risk(config: pytest.Config, document: dict[str, Any]) -> None:
    """A rollback recommended over a schema that moved since --record-baseline: say so in the verdict."""
    settings = config.stash[settings_key]
    if document["action"] != "rollback" or settings.baseline_file is None or settings.record_baseline:
        return
    run = config.stash[run_key]
    recorded = baseline_file.read_schema_heads(settings.baseline_file, run.configured.name)
    if not recorded:
        return
    try:
        now = _schema_heads(run, list(recorded))
    except DemoError as error:
        document["warnings"].append(f"cannot compare the schema heads with the baseline: {error}")
        return
    for name, before in recorded.items():
        if name in now:
            warning = database_rules.schema_risk(name, before, now[name], str(settings.baseline_file))
            if warning is not None:
                document["warnings"].append(warning)
