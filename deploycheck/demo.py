"""Start and stop the bundled demo services (`python -m demo`) as a child process.

The suite never imports `demo`: it runs it like any other deployed service and learns its URLs from the one JSON
line the process prints once every service listens.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from deploycheck import children
from deploycheck.config.loader import Demo

PROJECT_ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 30.0


class DemoError(RuntimeError):
    pass


@dataclass
class RunningDemo:
    process: subprocess.Popen[str]
    urls: dict[str, str]  # service -> base URL
    admin_url: str
    log: Path  # the demo's stderr: a file, so a chatty demo can never block on a full pipe

    def stop(self, timeout_s: float = 5.0) -> None:
        children.stop(self.process, timeout_s=timeout_s)
        if self.process.stdout:
            self.process.stdout.close()
        self.log.unlink(missing_ok=True)


def command(demo: Demo, services: list[str] | None = None) -> list[str]:
    args = [sys.executable, "-m", "deploycheck_demo", "--latency-ms", str(demo.latency_ms), "--version", demo.version]
    if demo.traffic_rps:
        args += ["--traffic-rps", str(demo.traffic_rps)]
    for service, modes in demo.faults.items():
        if modes:
            args += ["--fault", f"{service}={','.join(modes)}"]
    return args + list(services or demo.services)


def start(demo: Demo, services: list[str] | None = None, timeout_s: float = START_TIMEOUT_S) -> RunningDemo:
    """Start the demo and wait until it announces its URLs; raises DemoError with its output if it doesn't."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
    }
    with tempfile.NamedTemporaryFile("w", prefix="deploycheck-demo-", suffix=".log", delete=False) as log:
        process = subprocess.Popen(
            command(demo, services),
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            preexec_fn=children.die_with_parent(),  # a run killed before its teardown leaves no demo serving
        )
    line = _first_line(process, timeout_s)
    try:
        announced = json.loads(line)
        return RunningDemo(process, dict(announced["services"]), announced.get("admin", ""), Path(log.name))
    except (ValueError, KeyError, TypeError):
        if process.poll() is None:
            process.kill()
        process.wait()
        lines = Path(log.name).read_text(errors="replace").strip().splitlines()
        Path(log.name).unlink(missing_ok=True)
        # The last line says why (argparse and tracebacks both end with the error itself).
        raise DemoError(f"the demo services did not start: {line or (lines[-1] if lines else 'no output')}") from None


def _first_line(process: subprocess.Popen[str], timeout_s: float) -> str:
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            if selector.select(timeout=0.1):
                return process.stdout.readline().strip()
            if process.poll() is not None:
                break
    finally:
        selector.close()
    return ""
