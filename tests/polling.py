"""Waiting for something to happen, in tests: ask again until it holds, within a deadline, and fail saying what
never happened. Never a fixed sleep: a sleep long enough on a loaded CI machine is a waste everywhere else, and
one short enough everywhere else fails there."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def until(what: str, check: Callable[[], T], timeout_s: float = 10.0, every_s: float = 0.05) -> T:
    """`check()`'s first truthy answer, asked every `every_s`; an AssertionError naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout_s:g}s (last seen: {found!r})")
        time.sleep(every_s)
