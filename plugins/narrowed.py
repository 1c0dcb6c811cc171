"""A run narrowed by `-k`, `-m`, `--deselect`, or by test files or node ids on the command line says so in its
verdict: `PASS -> promote (2 of 22 applicable checks ran: narrowed by -k alerts)`, and `narrowed` in verdict.json.

The applicable checks are those the collected tests hold for the selected services, less what cannot apply (a
section not configured, a flow the service does not list): what ran, plus what -k, -m or --deselect left out.
Naming folders (a team's `checks/`) chooses the suite; naming files or node ids narrows it, and the checks outside
them are never collected, so how many apply is then unknown. Each process that collects counts; under xdist the
controller, which never collects, reads a worker's counts from `workeroutput` (they all collect the same)."""

from __future__ import annotations

import shlex
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from deploycheck.narrowing import narrowed
from deploycheck_plugins.checks import why_not_applicable
from deploycheck_plugins.flows import runs_for_its_service
from deploycheck_plugins.targets import environment_key, is_running, service_of

COUNTS_OUTPUT = "deploycheck_narrowed"  # xdist workeroutput: {"ran": n, "left_out": m}
counts_key = pytest.StashKey[dict[str, int]]()


@pytest.hookimpl(wrapper=True)  # around every plugin's deselection: what was there before, what is left after
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> Generator[None, Any, Any]:
    if not is_running(config):
        return (yield)
    before = list(items)
    result = yield
    kept = set(items)
    environment = config.stash[environment_key]
    left_out = [
        item
        for item in before
        if item not in kept
        and runs_for_its_service(item, environment)
        and why_not_applicable(config, item, service_of(item)) is None
    ]
    counts = {"ran": len(items), "left_out": len(left_out)}
    config.stash[counts_key] = counts
    if hasattr(config, "workeroutput"):
        config.workeroutput[COUNTS_OUTPUT] = counts
    return result


@pytest.hookimpl(optionalhook=True)  # an xdist hook: on the controller, as each worker finishes
def pytest_testnodedown(node: Any, error: object) -> None:
    counts = getattr(node, "workeroutput", {}).get(COUNTS_OUTPUT)
    if counts is not None:
        node.config.stash.setdefault(counts_key, counts)


@pytest.hookimpl(tryfirst=True)  # before the writers (trylast) show the document
def pytest_deploycheck_verdict(config: pytest.Config, document: dict[str, Any]) -> None:
    counts = config.stash.get(counts_key, None)
    if counts is None:
        return  # nothing was collected (a usage error, a run stopped before collection)
    files = _files_and_node_ids(config)
    applicable = None if files else counts["ran"] + counts["left_out"]
    entry = narrowed(_narrowed_by(config) + files, counts["ran"], applicable)
    if entry is not None:
        document["narrowed"] = entry


def _narrowed_by(config: pytest.Config) -> list[str]:
    option = config.option
    by = [f"-k {shlex.quote(option.keyword)}"] if getattr(option, "keyword", "") else []
    by += [f"-m {shlex.quote(option.markexpr)}"] if getattr(option, "markexpr", "") else []
    by += [f"--deselect {shlex.quote(node)}" for node in getattr(option, "deselect", None) or ()]
    return by


def _files_and_node_ids(config: pytest.Config) -> list[str]:
    """The test files and node ids named on the command line (folders choose the suite; these narrow it)."""
    if config.args_source is not pytest.Config.ArgsSource.ARGS:
        return []
    here = config.invocation_params.dir
    return [arg for arg in config.args if "::" in arg or (here / Path(arg)).is_file()]
