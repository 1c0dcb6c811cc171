"""`${name}` in a declared flow, substituted when a step is sent: `${run_id}`, names saved by earlier steps, and
the process environment (`${SMOKE_PASSWORD}`). A name that is none of them is an error naming it."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)\}")


class MissingValue(KeyError):
    """A `${name}` with no value: not saved (yet), not the run id, not set in the environment."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"${{{self.name}}} has no value: not saved by an earlier step, and not set in the environment"


def substitute(value: Any, values: Mapping[str, str]) -> Any:
    """`value` (text, or lists and mappings of it) with every `${name}` replaced; other types as they are."""
    if isinstance(value, str):
        return _text(value, values)
    if isinstance(value, list | tuple):
        return [substitute(item, values) for item in value]
    if isinstance(value, Mapping):
        return {substitute(key, values): substitute(item, values) for key, item in value.items()}
    return value


def _text(text: str, values: Mapping[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in values:
            raise MissingValue(name)
        return str(values[name])

    return VARIABLE.sub(one, text)


def names(value: Any) -> Iterator[str]:
    """Every `${name}` that `value` refers to."""
    if isinstance(value, str):
        yield from (match["name"] for match in VARIABLE.finditer(value))
    elif isinstance(value, list | tuple):
        for item in value:
            yield from names(item)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from names(key)
            yield from names(item)


def dotted(document: Any, path: str) -> Any:
    """`items.0.sku` in a JSON document; raises KeyError naming the part that is missing."""
    current = document
    for part in path.split("."):
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.lstrip("-").isdigit() and -len(current) <= int(part) < len(current):
            current = current[int(part)]
        else:
            raise KeyError(part)
    return current
