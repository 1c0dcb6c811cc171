"""Durations as people write them (`120s`, `2m`, `500ms`, `1h`, or a number of seconds), and the bounds of a timeout.

`seconds()` and `timeout_seconds()` raise `ValueError` with a message that says what is allowed and never quotes the
value (it may have come from a secret variable); `parse_duration()` and `parse_timeout()` turn that into a
`ConfigError` for callers outside the configuration model, such as the command-line options.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from deploycheck.config.errors import ConfigError

MAX_TIMEOUT_S = 600.0  # a check that waits longer than 10 minutes for one answer blocks the pipeline instead
DURATION_EXAMPLES = "like 30s, 2m or 500ms"
TIMEOUT_RANGE = f"more than 0s and at most {MAX_TIMEOUT_S:g}s (10m)"

_DURATION = re.compile(r"^\s*(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def seconds(value: Any) -> float:
    """A duration in seconds: a finite, non-negative number, or text like `30s`."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"expected a duration {DURATION_EXAMPLES}")
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"expected a duration {DURATION_EXAMPLES}")
        value = float(match["number"]) * _UNIT_SECONDS[match["unit"]]
    if isinstance(value, int) and abs(value) > 10**12:  # beyond any duration; float() of a huge int would raise
        raise ValueError(f"expected a duration {DURATION_EXAMPLES}; this number is too large")
    result = float(value)
    if not math.isfinite(result) or result < 0:
        raise ValueError(f"expected a duration {DURATION_EXAMPLES}: a finite number of seconds, not negative")
    return result


def timeout_seconds(value: Any) -> float:
    """A duration that bounds a wait: more than zero (zero would fail every check) and at most ten minutes."""
    result = seconds(value)
    if not 0 < result <= MAX_TIMEOUT_S:
        raise ValueError(f"a timeout must be {TIMEOUT_RANGE}, e.g. 5s")
    return result


def parse_duration(value: Any, source: Path | str = "<command line>", key_path: str = "") -> float:
    """'120s', '2m', '500ms', '1h' or a number of seconds -> seconds; a `ConfigError` if it is none of these."""
    try:
        return seconds(value)
    except ValueError as error:
        raise ConfigError(source, key_path, f"{error}, got {_shown(value)}") from None


def parse_timeout(value: Any, source: Path | str = "<command line>", key_path: str = "") -> float:
    """A duration that must be more than 0 and at most 600 s; a `ConfigError` that gives the range otherwise."""
    try:
        return timeout_seconds(value)
    except ValueError as error:
        raise ConfigError(source, key_path, f"{error}, got {_shown(value)}") from None


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
