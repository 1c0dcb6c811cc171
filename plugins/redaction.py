"""Nothing secret in a report: what pytest itself prints and writes about a test (the traceback, the locals of
`-l`, the frames of `--full-trace`, captured output, skip reasons) is redacted with the run's secrets before any
reporter sees it: the terminal, JUnit, xdist's transfer to the controller, the verdict.

Findings are redacted once, where they are made; this covers the text pytest makes on its own. The run's redactor is
also installed as the redaction `deploycheck.text.cut` applies before it shortens any text, so that a secret cut in
two never leaves its start behind; pytest cuts long values (in the middle, with "...") before we see them, so what it
shows of values is also rid of any piece of a secret left at such a cut."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator
from typing import Any

import pytest

from deploycheck import text
from deploycheck.secrets import Redactor
from deploycheck_plugins.targets import redactor_key

Redact = Callable[[str], str]


@pytest.hookimpl(trylast=True)  # after targets' configure made the redactor
def pytest_configure(config: pytest.Config) -> None:
    redact = config.stash.get(redactor_key, None)
    if redact is not None:
        text.redact_before_cutting(redact)


def pytest_unconfigure(config: pytest.Config) -> None:
    if config.stash.get(redactor_key, None) is not None:
        text.redact_before_cutting(None)


# trylast: the innermost wrapper, so the report is redacted before any other wrapper (Allure's) reads it.
@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    redactor = item.config.stash.get(redactor_key, None)
    if redactor is not None:
        redact_report(report, redactor)
        if call.excinfo is not None:
            _redact_exception(call.excinfo.value, redactor.after_foreign_cut)
    return report


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, Any]:
    report = yield
    redactor = collector.config.stash.get(redactor_key, None)
    if redactor is not None:
        redact_report(report, redactor)
    return report


def redact_report(report: pytest.TestReport | pytest.CollectReport, redactor: Redactor) -> None:
    """Captured output as it is; what pytest shows of values (assertions, -l locals), which it may have cut in the
    middle, also rid of the piece of a secret left at a cut."""
    report.sections = [(title, redactor(content)) for title, content in report.sections]
    redact = redactor.after_foreign_cut
    longrepr = report.longrepr
    if isinstance(longrepr, str):
        report.longrepr = redact(longrepr)
    elif isinstance(longrepr, tuple):  # a skip: (path, line, reason)
        report.longrepr = (longrepr[0], longrepr[1], redact(longrepr[2]))
    elif longrepr is not None:
        _redact_in_place(longrepr, redact, depth=0)


def _redact_exception(error: BaseException, redact: Redact) -> None:
    """The exception's own text, which reporters such as Allure format themselves."""
    # An exception that does not let its args be replaced keeps them (its text is then its own business).
    with contextlib.suppress(AttributeError, TypeError):
        error.args = tuple(_redact_in_place(arg, redact, 0) for arg in error.args)


def _redact_in_place(node: Any, redact: Redact, depth: int) -> Any:
    """Every string inside pytest's structured failure repr (lines, locals, arguments, the crash message)."""
    if isinstance(node, str):
        return redact(node)
    if depth > 12:  # these reprs are shallow; a bound keeps an odd one from costing much
        return node
    if isinstance(node, list):
        node[:] = [_redact_in_place(item, redact, depth + 1) for item in node]
    elif isinstance(node, tuple):
        return tuple(_redact_in_place(item, redact, depth + 1) for item in node)
    elif hasattr(node, "__dict__"):
        for name, value in vars(node).items():
            redacted = _redact_in_place(value, redact, depth + 1)
            if redacted is not value:
                object.__setattr__(node, name, redacted)  # the reprs are frozen dataclasses
    return node
