"""The runs behind `python -m deploycheck serve`: the suite as a subprocess, one at a time per environment and
service, shared by every request that asks while it runs, and kept for `cache_for` seconds after it ends.

At most `max_runs` go on at once: beyond that `Runs.get` raises `Busy` (503 with Retry-After), so no stream of
requests can start more processes than the machine has cores for. Each run leads its own process group: past its
deadline the suite gets SIGTERM (it then runs its cleanups and writes an INCONCLUSIVE verdict; only the suite, so
the servers its cleanups need stay up), `grace_s` to finish, and then the whole group gets SIGKILL. Nothing a run
started outlives it.

A run that ends without a verdict file (a usage error, a crash, past its deadline) is *broken*: its answer is
INCONCLUSIVE with the reason, never a pass. A run stopped at its deadline is never a pass either."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("deploycheck.serve")
OUTPUT_TAIL_LINES = 15


@dataclass(frozen=True)
class Target:
    env: str
    service: str
    version: str | None = None

    def __str__(self) -> str:
        return f"{self.env}/{self.service}" + (f"@{self.version}" if self.version else "")


@dataclass
class Run:
    target: Target
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    document: dict[str, Any] | None = None
    broken: str | None = None  # why the run gave no verdict
    stopped: str | None = None  # how it was stopped at its deadline
    done: threading.Event = field(default_factory=threading.Event)

    def wait(self, seconds: float) -> bool:
        return self.done.wait(max(0.0, seconds))

    def answer(self) -> dict[str, Any]:
        """The verdict document, or INCONCLUSIVE saying why there is none; and how the run was stopped, if it was."""
        stopped = {"stopped": self.stopped} if self.stopped else {}
        if self.document is None:
            held = {"verdict": "INCONCLUSIVE", "action": "hold", "error": self.broken, "target": str(self.target)}
            return held | stopped
        if self.stopped and self.document.get("verdict") == "PASS":  # cut short: what did not run was not judged
            return self.document | {"verdict": "INCONCLUSIVE", "action": "hold"} | stopped
        return self.document | stopped

    @property
    def verdict(self) -> str:
        return str(self.answer()["verdict"])


@dataclass(frozen=True)
class RunSettings:
    project: Path  # where pytest runs: the repository with the checks (its ini file names them)
    environments_dir: Path
    cache_for_s: float = 60.0
    run_timeout_s: float = 600.0
    grace_s: float = 30.0  # from SIGTERM at the deadline to SIGKILL
    max_runs: int = 1
    pytest_args: tuple[str, ...] = ()


class Busy(Exception):
    """`max_runs` runs are going on: ask again later."""


class Runs:
    def __init__(self, settings: RunSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._runs: dict[Target, Run] = {}
        self._one_at_a_time: dict[tuple[str, str], threading.Lock] = defaultdict(threading.Lock)
        self._processes: set[subprocess.Popen[bytes]] = set()

    def get(self, target: Target, start: bool = True) -> Run | None:
        """The run going on for target, or its result if still fresh; else a new run (when `start`), or Busy."""
        with self._lock:
            oldest = time.monotonic() - self.settings.cache_for_s
            for stale in [key for key, old in self._runs.items() if old.ended is not None and old.ended <= oldest]:
                del self._runs[stale]  # every version ever asked about would otherwise stay forever
            run = self._runs.get(target)
            fresh = run is not None
            if fresh or not start:
                return run if fresh else None
            going = sum(1 for other in self._runs.values() if other.ended is None)
            if going >= self.settings.max_runs:
                raise Busy(f"{going} runs are going on, the most this server starts at once (--max-runs)")
            run = self._runs[target] = Run(target)
        log.info("run started: %s", target)
        threading.Thread(target=self._run, args=(run,), name=f"run {target}", daemon=True).start()
        return run

    def stop(self) -> None:
        """Every run still going: SIGTERM, the grace period (shared), then SIGKILL to its process group."""
        processes = list(self._processes)
        for process in processes:
            process.send_signal(signal.SIGTERM)
        until = time.monotonic() + self.settings.grace_s
        for process in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.0, until - time.monotonic()))
            _signal_group(process, signal.SIGKILL)

    def _run(self, run: Run) -> None:
        try:
            with self._one_at_a_time[(run.target.env, run.target.service)]:
                run.document, run.broken = self._execute(run)
        except Exception as error:  # the server stays up and answers INCONCLUSIVE, whatever broke
            run.broken = f"the run could not start: {type(error).__name__}: {error}"
        run.ended = time.monotonic()
        run.done.set()
        took = run.ended - run.started
        if run.broken:
            log.warning("run broken: %s after %.1fs: %s", run.target, took, run.broken)
        else:
            assert run.document is not None
            log.info(
                "run finished: %s %s (exit %s) in %.1fs", run.target, run.verdict, run.document["exit_status"], took
            )

    def _execute(self, run: Run) -> tuple[dict[str, Any] | None, str | None]:
        target = run.target
        with tempfile.TemporaryDirectory(prefix="deploycheck-serve-") as scratch:
            verdict_file, output = Path(scratch) / "verdict.json", Path(scratch) / "output.txt"
            command = [
                sys.executable, "-m", "pytest",
                "--env", target.env,
                "--service", target.service,
                "--environments-dir", str(self.settings.environments_dir),
                "--verdict-file", str(verdict_file),
                "--summary-file", str(Path(scratch) / "summary.md"),
                *(["--expected-version", target.version] if target.version else []),
                *self.settings.pytest_args,
            ]  # fmt: skip
            with output.open("wb") as sink:
                process = subprocess.Popen(
                    command,
                    cwd=self.settings.project,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,  # its own process group: the demo and whatever else it starts go with it
                )
                self._processes.add(process)
                try:
                    status = process.wait(self.settings.run_timeout_s)
                except subprocess.TimeoutExpired:
                    run.stopped = self._stop_at_deadline(process)
                    status = process.returncode
                    log.warning("run stopped: %s: %s", target, run.stopped)
                finally:
                    _signal_group(process, signal.SIGKILL)  # what it left behind, if anything
                    self._processes.discard(process)
            if run.stopped and not verdict_file.is_file():
                return None, f"no verdict within the run timeout of {self.settings.run_timeout_s:g}s"
            if verdict_file.is_file():
                try:
                    return json.loads(verdict_file.read_text(encoding="utf-8")), None
                except ValueError as error:
                    return None, f"the verdict file is not JSON ({error})"
            tail = output.read_text(encoding="utf-8", errors="replace").splitlines()[-OUTPUT_TAIL_LINES:]
            log.warning("run %s exited %s without a verdict; its last lines:\n%s", target, status, "\n".join(tail))
            return None, f"the suite exited {status} without a verdict (usage error or crash: see the server's log)"

    def _stop_at_deadline(self, process: subprocess.Popen[bytes]) -> str:
        """SIGTERM, up to `grace_s` for the suite to clean up and write its verdict, then SIGKILL: what happened."""
        timeout, grace = self.settings.run_timeout_s, self.settings.grace_s
        process.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        try:
            process.wait(grace)
            said = f"sent SIGTERM at the run timeout of {timeout:g}s; it ended {time.monotonic() - sent:.1f}s later"
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait()
            said = (
                f"sent SIGTERM at the run timeout of {timeout:g}s; still running after the grace period of {grace:g}s:"
                " killed (SIGKILL to its process group)"
            )
        return said


def _signal_group(process: subprocess.Popen[bytes], how: signal.Signals) -> None:
    """Signal the run's process group (its pid: it leads the group), gone or not."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, how)
