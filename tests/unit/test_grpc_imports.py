"""A run whose services configure no `grpc` section never imports grpc (about 100 ms of start-up it does not pay):
the kind's config, probes and rules modules import grpc only where a Check is sent."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.conftest import REPO

HEALTH_ONLY_RUN = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    from deploycheck.config.loader import load_environment
    from deploycheck.config.schema import environment_schema
    from deploycheck.evidence.registry import REGISTRY
    import deploycheck.kinds.grpc.rules  # what checks/test_grpc.py imports when collected

    environment = load_environment(Path(sys.argv[1]), "staging")
    assert REGISTRY.load_for(environment) == ["http"], REGISTRY.loaded()
    environment_schema()
    print(sorted(name for name in sys.modules if name.split(".")[0] in ("grpc", "grpc_health")))
    """
)


def test_a_health_only_run_does_not_import_grpc(tmp_path):
    (tmp_path / "staging.yaml").write_text(
        "environment: staging\nservices:\n  api:\n    url: http://127.0.0.1:8080\n    health: {path: /health}\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", HEALTH_ONLY_RUN, str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_grpc_section_brings_the_kind_in(tmp_path):
    (tmp_path / "staging.yaml").write_text(
        "environment: staging\nservices:\n  api:\n    url: http://127.0.0.1:8080\n"
        "    grpc: {target: '127.0.0.1:50051'}\n"
    )
    script = HEALTH_ONLY_RUN.replace('== ["http"]', '== ["grpc"]')
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"  # registered, but grpc itself waits until a Check is sent
