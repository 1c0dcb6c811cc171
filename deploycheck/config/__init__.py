"""The environment files: loader (YAML -> a typed `Environment`), model (what each key may hold, and its JSON
Schema), environment (the `Environment` and `Service` the rest of the code reads), types, variables, errors,
messages, schema, reference, yaml_safe, durations, sections (those of no kind: notifications, rollback).

`deploycheck.config` was one module, the loader: its names (`load_environment`, `Environment`, `ConfigError`,
...) are still read from here, on first use, so that importing one module of this package imports no other."""

from __future__ import annotations

import importlib
from typing import Any


def __getattr__(name: str) -> Any:
    loader = importlib.import_module(f"{__name__}.loader")
    try:
        return getattr(loader, name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
