"""What a run would refuse in an environment's flows, found before anything runs, every problem at once: a `${name}`
with no value where it is used (saved by no earlier step, not the run id, not set in the process environment), a
declared flow named like a flow written in Python, a flow a service lists that nothing defines.

Each problem is (key path in the environment file, reason with its fix); the loader and `validate` turn them into
`ConfigError`s (file:line:column), the run into its usage error. Python flows are found by reading the test files
(`python_flows`), never by importing them: the same rule as `@pytest.mark.flow` at collection.
"""

from __future__ import annotations

import ast
import difflib
import functools
import importlib.util
from collections.abc import Collection, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from deploycheck.config.errors import KeyPath
from deploycheck.flows.model import DeclaredFlow, FlowStep
from deploycheck.flows.substitute import VARIABLE

Problem = tuple[KeyPath, str]
RUN_ID = "run_id"
BUILT_IN_PACKAGE = "deploycheck_smoke"  # the suite's own flows (smoke/), installed
CLASH = (
    "a flow written in Python has this name ({where}): rename the declared flow (and its entries under `flows`); "
    "a declared flow never replaces a Python one"
)


def value_problems(name: str, flow: DeclaredFlow, environ: Mapping[str, str], used: bool) -> list[Problem]:
    """Every `${...}` of the flow that would have no value when its step is sent. The process environment is
    asked only for a flow some service runs (`used`); a name that a later step saves is wrong either way."""
    problems: list[Problem] = []
    where: KeyPath = ("declared_flows", name)
    every_save: dict[str, int] = {}  # name -> the first step that saves it
    for index, step in enumerate(flow.steps):
        for saved in step.save:
            every_save.setdefault(saved, index)
    known = {RUN_ID}
    for index, step in enumerate(flow.steps):
        for path, variable in _uses(step, (*where, "steps", index)):
            if variable in known or (variable not in every_save and (not used or variable in environ)):
                continue
            problems.append((path, _no_value(variable, known, every_save, index, flow)))
        known.update(step.save)
    for path, variable in _flow_header_uses(flow, where):
        if variable not in known and used and variable not in environ:
            problems.append((path, _no_value(variable, known, every_save, len(flow.steps), flow)))
    for index, step in enumerate(flow.cleanup):  # they run with whatever the steps saved by then
        for path, variable in _uses(step, (*where, "cleanup", index)):
            if variable not in known and used and variable not in environ:
                problems.append((path, _no_value(variable, known, every_save, len(flow.steps), flow)))
    return problems


def _no_value(variable: str, known: set[str], every_save: Mapping[str, int], index: int, flow: DeclaredFlow) -> str:
    later = every_save.get(variable)
    if later is not None and later >= index:
        step = flow.steps[later].name
        return (
            f"${{{variable}}} is saved only by a later step (steps[{later}] {step!r}): move that step before this one"
        )
    saved = sorted(known - {RUN_ID})
    close = difflib.get_close_matches(variable, [*saved, RUN_ID], n=1)
    hint = f" (did you mean ${{{close[0]}}}?)" if close else ""
    by_then = f"saved by then: {', '.join(saved)}" if saved else "no step saves a value before it"
    return (
        f"${{{variable}}} has no value here: no earlier step saves it ({by_then}) and it is not set in the "
        f"environment: save it in an earlier step, or export {variable}=... before running{hint}"
    )


def _uses(step: FlowStep, where: KeyPath) -> Iterator[tuple[KeyPath, str]]:
    yield from _names_at(step.path, (*where, "path"))
    yield from _names_at(dict(step.headers), (*where, "headers"))
    yield from _names_at(step.body, (*where, "body"))
    yield from _names_at(step.form, (*where, "form"))
    yield from _names_at(dict(step.expect.fields), (*where, "expect", "fields"))
    yield from _names_at(dict(step.until), (*where, "until"))


def _flow_header_uses(flow: DeclaredFlow, where: KeyPath) -> Iterator[tuple[KeyPath, str]]:
    """The flow's own headers: left out of a step until their names are saved, so any step may save them."""
    saved = {name for step in flow.steps for name in step.save}
    for path, variable in _names_at(dict(flow.headers), (*where, "headers")):
        if variable not in saved:
            yield path, variable


def _names_at(value: Any, where: KeyPath) -> Iterator[tuple[KeyPath, str]]:
    if isinstance(value, str):
        for match in VARIABLE.finditer(value):
            yield where, match["name"]
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _names_at(item, (*where, index))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _names_at(key, (*where, key))
            yield from _names_at(item, (*where, key))


def name_problems(
    declared: Collection[str], python: Mapping[str, str], listed: Iterable[tuple[KeyPath, str]]
) -> list[Problem]:
    """Declared flows named like a Python flow (`python`: name -> where it is written), and each entry of a service's
    `flows` (`listed`: (key path, name)) that no flow defines."""
    problems: list[Problem] = [
        (("declared_flows", name), CLASH.format(where=python[name])) for name in declared if name in python
    ]
    known = set(declared) | set(python)
    for path, name in listed:
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(
                (
                    path,
                    f"no flow {name!r}: neither declared under `declared_flows` nor written in Python as a "
                    f"@pytest.mark.flow test (known: {', '.join(sorted(known)) or 'none'}): add it, or take it off the "
                    f"list{hint}",
                )
            )
    return problems


# ---------------------------------------------------------------------------------------------------------------
# flows written in Python, read from their files


@functools.cache
def built_in_flows() -> dict[str, str]:
    """The suite's own Python flows (login, create_order, ...): name -> file:line."""
    spec = importlib.util.find_spec(BUILT_IN_PACKAGE)
    folders = list(spec.submodule_search_locations or ()) if spec is not None else []
    return python_flows(Path(folder) for folder in folders)


def python_flows_of_run(args: Iterable[str], here: Path) -> dict[str, str] | None:
    """The Python flows in a run's test paths (pytest's arguments, from `here`), or None for a run with none (only
    checks): such a run runs no flow, so what its services list is not its business."""
    return python_flows(here / arg.split("::")[0] for arg in args) or None


def python_flows(paths: Iterable[Path]) -> dict[str, str]:
    """name -> file:line of every `@pytest.mark.flow` test in the `test_*.py` files at or under `paths`."""
    found: dict[str, str] = {}
    for path in paths:
        files = [path] if path.is_file() else sorted(path.rglob("test_*.py")) if path.is_dir() else []
        for file in files:
            for name, line in _flows_in(file):
                found.setdefault(name, f"{file}:{line}")
    return found


def _flows_in(file: Path) -> Iterator[tuple[str, int]]:
    try:
        tree = ast.parse(file.read_text(encoding="utf-8"), str(file))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return  # the run says so when it collects the file
    module_mark = next(
        (
            mark
            for node in tree.body
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "pytestmark" for t in node.targets)
            for mark in _marks(node.value)
        ),
        None,
    )
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or not node.name.startswith("test_"):
            continue
        mark = next((mark for decorator in node.decorator_list for mark in _marks(decorator)), module_mark)
        if mark is not None:
            yield _flow_name(mark) or node.name.removeprefix("test_"), node.lineno


def _marks(node: ast.expr) -> Iterator[ast.expr]:
    """`pytest.mark.flow` or `pytest.mark.flow(...)` (also in a list, as `pytestmark` may be)."""
    if isinstance(node, ast.List | ast.Tuple):
        for item in node.elts:
            yield from _marks(item)
        return
    target = node.func if isinstance(node, ast.Call) else node
    if isinstance(target, ast.Attribute) and target.attr == "flow" and _ends_in_mark(target.value):
        yield node


def _ends_in_mark(node: ast.expr) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "mark") or (
        isinstance(node, ast.Name) and node.id == "mark"
    )


def _flow_name(mark: ast.expr) -> str | None:
    if not isinstance(mark, ast.Call):
        return None
    for keyword in mark.keywords:
        if keyword.arg == "name" and isinstance(keyword.value, ast.Constant) and keyword.value.value:
            return str(keyword.value.value)
    if mark.args and isinstance(mark.args[0], ast.Constant) and mark.args[0].value:
        return str(mark.args[0].value)
    return None
