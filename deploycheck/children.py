"""Child processes that never outlive the run that started them."""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any


def die_with_parent(how: signal.Signals = signal.SIGTERM) -> Callable[[], None] | None:
    """A preexec_fn that has Linux send the child `how` when its parent dies, even by SIGKILL (a CI job's timeout),
    so no server is left running. Elsewhere None: the parent's own teardown stops it."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here: the child only calls it
    pr_set_pdeathsig = 1
    return lambda: prctl(pr_set_pdeathsig, how)


def stop(process: subprocess.Popen[Any], how: signal.Signals = signal.SIGTERM, timeout_s: float = 10.0) -> None:
    """Ask the child to stop with `how`, SIGKILL it after `timeout_s`; returns once it is gone."""
    if process.poll() is None:
        process.send_signal(how)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
