"""Old module paths that teams' checks import, kept working for one release with a DeprecationWarning that
names the new path. Each old module is two lines: `from deploycheck.moved import moved` and
`moved(__name__, "deploycheck.new.path")`; the old name then *is* the new module (`sys.modules`), so every name,
private or not, and every monkeypatch reaches the same object."""

from __future__ import annotations

import importlib
import sys
import warnings
from typing import Any

REMOVED_IN = "deploycheck 2.0"


def moved(old: str, new: str) -> None:
    warnings.warn(f"{old} moved to {new}: import {new} ({old} goes in {REMOVED_IN})", DeprecationWarning, stacklevel=3)
    sys.modules[old] = importlib.import_module(new)


def moved_name(old: str, module: str, name: str) -> Any:
    warnings.warn(
        f"{old} moved to {module}.{name}: import it from {module} ({old} goes in {REMOVED_IN})",
        DeprecationWarning,
        stacklevel=3,
    )
    return getattr(importlib.import_module(module), name)
