"""`--record-baseline`: a listener of the verdict hook that writes each service's traffic figures, as measured
now, to the baseline file, for `--baseline FILE` to compare against after the deploy. Runs on the controller
only; under xdist it reads what the workers gathered from the run's shared evidence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from deploycheck import baseline_file
from deploycheck.demo import DemoError
from deploycheck_plugins.targets import run_key, settings_key

DEFAULT_FILE = "reports/baseline.json"


def pytest_deploycheck_verdict(config: pytest.Config, document: dict[str, Any]) -> None:
    settings = config.stash[settings_key]
    if not settings.record_baseline:
        return
    run = config.stash[run_key]
    path = settings.baseline_file or Path(config.invocation_params.dir) / DEFAULT_FILE
    action: dict[str, Any] = {"action": "record-baseline", "file": str(path)}
    try:
        names = [name for name, service in run.configured.services.items() if service.metrics is not None]
        run.evidence.prefetch([(name, "traffic") for name in names])  # gathered already if a check asked for it
        traffic = {name: run.evidence.get(name, "traffic").value for name in names}
        baseline_file.write(path, run.configured.name, traffic, run.settings.now)
    except (DemoError, OSError) as error:
        action.update(result="failed", reason=str(error))
    else:
        action.update(
            result="recorded" if traffic else "nothing to record: no service has `metrics` configured",
            services={
                name: {"requests": figures.requests, "errors": figures.errors, "p95_s": figures.p95_s,
                       "problem": figures.problem}
                for name, figures in traffic.items()
            },
        )  # fmt: skip
    document["actions"].append(action)
