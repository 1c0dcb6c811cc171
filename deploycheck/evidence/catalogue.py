"""What `python -m deploycheck kinds` lists: each kind, where it comes from, its sections, probes and checks.

Known without pytest: the built-in kinds and those of installed packages (entry points). A kind added by a
`conftest.py` hook is known only to a run of pytest, which imports the conftest files; it is not listed here.
A check belongs to a kind when its test function asks for one of the kind's probes: the check files are read
(parsed, never imported), so listing runs no team code but the entry points' own functions."""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from deploycheck.evidence.registry import Kind, KindRegistry

NOT_LISTED = "kinds added by a conftest.py hook (pytest_deploycheck_kinds) are known only to a run of pytest"


BUILT_IN_CHECKS = "deploycheck_checks"  # the suite's own checks, as installed


def built_in_check_folders() -> list[Path]:
    spec = importlib.util.find_spec(BUILT_IN_CHECKS)
    return [Path(folder) for folder in (spec.submodule_search_locations or ())] if spec is not None else []


def check_functions(folders: Iterable[Path]) -> list[tuple[str, set[str]]]:
    """(check id, the fixtures it asks for) of each `test_*` function in `test_*.py` files under the folders."""
    found = []
    for folder in folders:
        for path in sorted(folder.rglob("test_*.py")) if folder.is_dir() else ():
            try:
                tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
            except (SyntaxError, ValueError):
                continue  # pytest will say what is wrong with it; the listing lists what it can read
            module = path.stem.removeprefix("test_")
            for node in tree.body:
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_"):
                    arguments = {argument.arg for argument in node.args.args}
                    found.append((f"{module}.{node.name.removeprefix('test_')}", arguments))
    return found


def describe(kind: Kind, checks: Sequence[tuple[str, set[str]]]) -> dict[str, Any]:
    probes = [*kind.probes, *kind.environment_probes]
    return {
        "name": kind.name,
        "origin": kind.origin,
        "sections": list(kind.sections),
        "probes": probes,
        "checks": sorted({check for check, wants in checks if wants & set(probes)}),
    }


def catalogue(registry: KindRegistry, check_folders: Iterable[Path]) -> list[dict[str, Any]]:
    checks = check_functions(check_folders)
    return [describe(kind, checks) for kind in registry]


def as_text(kinds: Sequence[dict[str, Any]]) -> str:
    lines = []
    for kind in kinds:
        lines.append(f"{kind['name']}  ({kind['origin']})")
        lines.append(f"  sections: {', '.join(kind['sections']) or '-'}")
        lines.append(f"  probes:   {', '.join(kind['probes']) or '-'}")
        lines.append(f"  checks:   {', '.join(kind['checks']) or '- (none found in the check folders)'}")
    lines.append(f"({NOT_LISTED})")
    return "\n".join(lines) + "\n"
