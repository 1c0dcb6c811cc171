"""`ConfigError`: the configuration cannot be used, with where (file, line:column, key path), why, and the fix."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

KeyPath = tuple[str | int, ...]  # ("services", "api", "flows", 2)


def dotted(path: KeyPath) -> str:
    """('services', 'api', 'flows', 2) -> 'services.api.flows[2]'"""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


class ConfigError(Exception):
    """One problem, or several found together (`problems`, one per line in the message).

    `str(error)` reads `file:line:col: key.path: reason` (line and column when known). For several problems,
    `source`, `key_path` and `reason` are those of the first one.
    """

    def __init__(
        self, source: Path | str, key_path: str, reason: str, line: int | None = None, column: int | None = None
    ) -> None:
        self.source = str(source)
        self.key_path = key_path
        self.reason = reason
        self.line = line
        self.column = column
        self.problems: tuple[ConfigError, ...] = (self,)
        super().__init__(self.where() + reason)

    def where(self) -> str:
        place = self.source if self.line is None else f"{self.source}:{self.line}:{self.column or 1}"
        return f"{place}: {self.key_path}: " if self.key_path else f"{place}: "

    @classmethod
    def several(cls, problems: Sequence[ConfigError]) -> ConfigError:
        """One error for all of `problems` (in file order, each once); the single problem itself if there is one."""
        unique = list({str(problem): problem for problem in problems}.values())
        unique.sort(key=lambda problem: (problem.line is None, problem.line or 0, problem.column or 0))
        if len(unique) == 1:
            return unique[0]
        first = unique[0]
        error = cls(first.source, first.key_path, first.reason, first.line, first.column)
        error.problems = tuple(unique)
        error.args = (f"{len(unique)} problems in {first.source}:\n" + "\n".join(f"  {p}" for p in unique),)
        return error
