"""A cancelled run loses nothing. CI cancelling a job, a Job's deadline, an evicted pod and `serve` stopping a run
send SIGTERM (a closed terminal, SIGHUP), not Ctrl-C; both are handled as pytest handles Ctrl-C.

In every process (serial, the xdist controller and its workers), the first SIGTERM or SIGHUP (or Ctrl-C, SIGINT)
tells every flow under way to send no further step (its cleanups still run, each request bounded by the flow's
timeout) and raises KeyboardInterrupt in the main thread: pytest ends the run as interrupted (exit status 2) and
the verdict is written, INCONCLUSIVE, saying which signal cancelled it. A later SIGTERM or SIGHUP is noted and
ignored, so it cannot cut the cleanups short (a second Ctrl-C still stops at once, as in pytest); once the session
is finishing (the verdict being written) they no longer interrupt anything. The previous handlers are restored at
unconfigure.

Every flow that starts is entered in a ledger with what its cleanups did; the verdict lists each flow the
cancellation interrupted (or whose test never reported it) with what it left behind, a failed cleanup included.

Under xdist: the controller forwards SIGTERM and SIGHUP to its workers (each notes its pid in the run's shared
directory; Ctrl-C in a terminal reaches them by itself) and waits, at most CANCEL_WAIT_S, for their flows' cleanups
before xdist takes the workers down (xdist interrupts a worker 5 s after asking it to stop, and kills it 10 s
later). The workers keep their ledgers in the shared directory, where the controller's verdict reads them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from deploycheck.findings import Finding, Outcome
from deploycheck.reports import run_notes
from deploycheck_plugins.targets import is_running, run_key

SIGNALS = (signal.SIGTERM, signal.SIGHUP)
CANCEL_WAIT_S = 25.0  # the controller's wait for its workers' cleanups: inside Kubernetes' default 30 s grace
POLL_S = 0.05
LEDGER_GLOB = "flow-ledger-*.json"
PIDS = "worker-pids"

cancellation_key = pytest.StashKey["Cancellation"]()


@dataclass
class Cancellation:
    """This process's view of a cancellation, and its ledger of flows."""

    shared_dir: Path | None = None
    signal: str | None = None  # what cancelled the run: SIGTERM, SIGHUP, or SIGINT (Ctrl-C)
    finishing: bool = False  # the session is writing its verdict: a signal no longer interrupts
    event: threading.Event = field(default_factory=threading.Event)
    flows: dict[str, dict[str, Any]] = field(default_factory=dict)  # this process's ledger, by flow key
    lock: threading.RLock = field(default_factory=threading.RLock)  # a handler may run while its thread holds it
    previous: dict[int, Any] = field(default_factory=dict)  # the handlers ours replaced

    def cancel(self, why: str) -> bool:
        """Note the cancellation; True the first time (the caller interrupts the run then, and only then). Once the
        verdict is being written, the run is over: nothing is cancelled any more."""
        with self.lock:
            if self.finishing:
                return False
            first = self.signal is None
            self.signal = self.signal or why
        self.event.set()
        return first

    def reason(self) -> str | None:
        """Why the run was cancelled, once it was (flows ask before each step)."""
        return self.signal if self.event.is_set() else None

    # the ledger ------------------------------------------------------------------------------------------------

    def started(self, key: str, entry: dict[str, Any]) -> None:
        with self.lock:
            self.flows[key] = {**entry, "state": "running"}
        self._write(key)

    def finished(self, key: str, entry: dict[str, Any]) -> None:
        with self.lock:
            self.flows[key] = {**self.flows.get(key, {}), **entry, "state": "done"}
        self._write(key)

    def _write(self, key: str) -> None:
        """Under xdist, for the controller: one small file per flow, replaced whole."""
        if self.shared_dir is None:
            return
        name = hashlib.sha256(key.encode()).hexdigest()[:20]
        path = self.shared_dir / f"flow-ledger-{os.getpid()}-{name}.json"
        temporary = path.with_suffix(".tmp")
        with self.lock:
            temporary.write_text(json.dumps(self.flows[key], default=str))
        temporary.replace(path)

    def every_flow(self) -> list[dict[str, Any]]:
        """This process's flows and, on an xdist controller, every worker's."""
        with self.lock:
            flows = list(self.flows.values())
        if self.shared_dir is not None:
            for path in sorted(self.shared_dir.glob(LEDGER_GLOB)):
                with contextlib.suppress(OSError, ValueError):
                    flows.append(json.loads(path.read_text()))
        return flows


def cancellation_of(config: pytest.Config) -> Cancellation | None:
    return config.stash.get(cancellation_key, None)


# ---------------------------------------------------------------------------------------------------------------
# the handlers


@pytest.hookimpl(trylast=True)  # after deploycheck_plugins.targets: the run's shared directory exists
def pytest_configure(config: pytest.Config) -> None:
    if not is_running(config):
        return
    shared_dir = config.stash[run_key].shared_dir
    state = Cancellation(shared_dir=shared_dir)
    config.stash[cancellation_key] = state
    if threading.current_thread() is not threading.main_thread():
        return  # pytest run from a thread (pytest.main in a program): only the main thread may set handlers
    workers = shared_dir / PIDS if shared_dir is not None and not hasattr(config, "workerinput") else None
    if shared_dir is not None and hasattr(config, "workerinput"):
        (shared_dir / PIDS).mkdir(exist_ok=True)
        (shared_dir / PIDS / str(os.getpid())).touch()  # so the controller can pass a signal on

    def handler(number: int, frame: Any) -> None:
        name = signal.Signals(number).name
        first = state.cancel(name)
        if workers is not None and number != signal.SIGINT:  # Ctrl-C in a terminal reaches every worker itself
            _forward(number, workers)
        if first or number == signal.SIGINT:  # a second Ctrl-C still stops at once: a person asked for it
            raise KeyboardInterrupt(f"cancelled by {name}")

    for number in SIGNALS:
        state.previous[number] = signal.signal(number, handler)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # Ctrl-C: the same, named as such
        state.previous[signal.SIGINT] = signal.signal(signal.SIGINT, handler)


def _forward(number: int, workers: Path) -> None:
    for pid in workers.glob("*") if workers.is_dir() else ():
        with contextlib.suppress(ValueError, OSError):  # gone already
            os.kill(int(pid.name), number)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """From here on the verdict is being written: a SIGTERM or SIGHUP changes nothing any more. A cancelled
    controller waits for its workers' flows to finish their cleanups before xdist takes the workers down."""
    state = cancellation_of(session.config)
    if state is None:
        return
    state.finishing = True
    if state.reason() is None or state.shared_dir is None or hasattr(session.config, "workerinput"):
        return
    deadline = time.monotonic() + CANCEL_WAIT_S
    while time.monotonic() < deadline and any(flow["state"] == "running" for flow in state.every_flow()):
        time.sleep(POLL_S)


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(cancellation_key, None)
    if state is None:
        return
    for number, previous in state.previous.items():
        signal.signal(number, previous)
    del config.stash[cancellation_key]


# ---------------------------------------------------------------------------------------------------------------
# what the verdict says


@dataclass(frozen=True)
class Cancelled:
    """What a cancelled run adds to its verdict."""

    signal: str | None  # None: the run stopped for another reason (a usage error) after flows had run
    flows: list[dict[str, Any]]  # each interrupted flow: where it stopped, its cleanups, what it left behind
    findings: list[Finding]  # one per flow whose test did not report it

    @property
    def reason(self) -> str:
        return run_notes.cancelled(self.section())  # worded as webhooks and Slack word it

    def section(self) -> dict[str, Any]:
        return {"signal": self.signal, "flows": self.flows}


def cancelled(config: pytest.Config, reported: set[str], stopped: bool) -> Cancelled | None:
    """The cancellation of this run, if it was cancelled (or `stopped` early, by a usage error, after flows had
    run): each flow that was under way, or whose test never reported it (`reported`: the tests that did), with what
    it left behind."""
    state = cancellation_of(config)
    why = state.reason() if state is not None else None
    if state is None or (why is None and not stopped):
        return None
    flows: list[dict[str, Any]] = []
    findings: list[Finding] = []
    for entry in state.every_flow():
        if not entry.get("interrupted") and entry["test"] in reported:
            continue  # it ended, and its test said how
        data = entry.get("finding")
        finding = Finding.from_dict(data) if data else _never_ended(entry, why)
        if entry["test"] not in reported:
            findings.append(finding.but(service=entry["service"], test=entry["test"], check=entry["check"]))
        flows.append(
            {
                "service": entry["service"],
                "flow": entry["flow"],
                "check": entry["check"],
                "test": entry["test"],
                "interrupted": bool(entry.get("interrupted")) or entry["state"] == "running",
                "stopped_at": entry.get("stopped_at"),
                "cleanups": entry.get("cleanups", []),
                "left_behind": entry.get("left_behind", []),
                "message": finding.message,
            }
        )
    if why is None and not flows:
        return None  # stopped before any flow ran: nothing to say here
    return Cancelled(why, flows, findings)


def _never_ended(entry: dict[str, Any], why: str | None) -> Finding:
    """A flow still under way when the run ended (its cleanups did not finish within the wait): what is known."""
    message = (
        f"flow {entry['flow']}: {f'cancelled by {why}' if why else 'stopped'}; its cleanups did not finish before "
        "the run ended: what it created may still be there"
    )
    return Finding(Outcome.INCONCLUSIVE, message, source={"kind": "flow", "flow": entry["flow"]})
