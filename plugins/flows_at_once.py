"""All flows of the run at once: each runs once, before the first test, in threads (a flow mostly waits on its
service, so 50 services' flows take about as long as the slowest); under -n the first worker runs them all and the
others read what they found. Each flow's test then records its findings as if it had run them itself.
DEPLOYCHECK_PREFETCH=0 runs each flow inside its own test instead (plugins/flows.py alone)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import pytest

from deploycheck.demo import DemoError
from deploycheck.findings import CheckFailed, Finding, Inconclusive, Outcome
from deploycheck_plugins.flows import (
    DECLARED,
    FlowBroke,
    LogIn,
    _is_flow_test,
    flow_context,
    flow_name,
    is_mutating,
    prerun_key,
    run_id_key,
)
from deploycheck_plugins.targets import (
    Target,
    environment_key,
    is_running,
    redactor_key,
    run_key,
    service_of,
    settings_key,
)

KNOWN_FIXTURES = frozenset(
    {"target", "run_id", "log_in", "flow", "flow_client", "smoke_account", "login", "step", "cleanup"}
    | {"declared_flow", "verify"}
)
MAX_CONCURRENT_FLOWS = 64  # threads: a flow mostly waits on its service
SIGNAL_CHECK_S = 0.2  # how often the main thread, waiting on the flows, runs the signal handlers it may owe
CUT_SHORT = "the flows of this run began in another worker, which was stopped before they ended (see `cancelled`)"


@dataclass(frozen=True)
class PreRun:
    """What a flow did when it ran with the others: its findings (redacted) and how it ended, as plain data."""

    findings: list[dict[str, Any]]
    ending: tuple[str, str] | None = None  # (skip | inconclusive | assertion | error, message)


def _from_json(value: dict[str, Any]) -> PreRun:
    ending = value["ending"]
    return PreRun(value["findings"], (str(ending[0]), str(ending[1])) if ending else None)


class _Recorded(Exception):
    """A finding that decides the flow was recorded: it stops the flow as `verify` would."""


@pytest.hookimpl(trylast=True)  # after the evidence (and --wait-ready): flows start once the services are up
def pytest_collection_finish(session: pytest.Session) -> None:
    """Run every flow of the run at once, before the first test: a flow mostly waits on its service, so 50 services'
    flows take about as long as the slowest one. Each runs once per run (under -n, the first worker runs them all
    and the others read the results); its test then records what it found. DEPLOYCHECK_PREFETCH=0: each flow runs
    in its own test instead."""
    config = session.config
    option = config.option
    if not is_running(config) or os.environ.get("DEPLOYCHECK_PREFETCH") == "0":
        return
    if option.collectonly or getattr(option, "setuponly", False) or getattr(option, "setupplan", False):
        return
    items = [item for item in session.items if isinstance(item, pytest.Function) and _runs_at_once(item)]
    if not items:
        return
    results = _once_per_run(config, items, lambda: _run_all(config, items))
    for item in items:
        if item.nodeid in results:
            item.stash[prerun_key] = results[item.nodeid]


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    prerun = pyfuncitem.stash.get(prerun_key, None)
    if prerun is None:
        return None
    __tracebackhide__ = True
    _report(prerun, pyfuncitem._request.getfixturevalue("verify"))
    return True


def _runs_at_once(item: pytest.Function) -> bool:
    if not _is_flow_test(item) or service_of(item) is None:
        return False
    if item.get_closest_marker("skip") or item.get_closest_marker("skipif"):
        return False  # pytest decides these
    return set(item._fixtureinfo.argnames) <= KNOWN_FIXTURES and _log_in_of(item) is not None


def _log_in_of(item: pytest.Function) -> LogIn | None:
    """The `log_in` that applies to the item (a conftest may override it), if it takes no fixtures of its own."""
    definitions = item._fixtureinfo.name2fixturedefs.get("log_in")
    if not definitions or definitions[-1].argnames:
        return None
    made: LogIn = definitions[-1].func()  # type: ignore[call-arg,assignment]
    return made


def _once_per_run(
    config: pytest.Config, items: list[pytest.Function], run_all: Callable[[], dict[str, PreRun]]
) -> dict[str, PreRun]:
    shared_dir = config.stash[run_key].shared_dir
    if shared_dir is None:
        return run_all()
    path = shared_dir / "flows.json"
    with open(shared_dir / "flows.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the first worker runs them all; the others wait and read
        if path.exists():
            return {nodeid: _from_json(value) for nodeid, value in json.loads(path.read_text()).items()}
        if (shared_dir / "flows.started").exists():  # the worker that ran them was cut short: never run twice
            return {item.nodeid: PreRun([], ("inconclusive", CUT_SHORT)) for item in items}
        (shared_dir / "flows.started").touch()
        results = run_all()
        path.write_text(json.dumps({nodeid: vars(result) for nodeid, result in results.items()}, default=str))
        return results


def _run_all(config: pytest.Config, items: list[pytest.Function]) -> dict[str, PreRun]:
    with contextlib.suppress(DemoError):
        config.stash[run_key].start_demo()  # once, before the threads (a failure: each flow says so)
    threads = min(MAX_CONCURRENT_FLOWS, len(items))
    with ThreadPoolExecutor(threads, thread_name_prefix="flow", initializer=_signals_to_the_main_thread) as pool:
        futures = {item.nodeid: pool.submit(_run_one, config, item) for item in items}
        pending = set(futures.values())
        while pending:  # in short waits: a signal that another thread took is handled within one
            pending = wait(pending, timeout=SIGNAL_CHECK_S).not_done
        return {nodeid: future.result() for nodeid, future in futures.items()}


def _signals_to_the_main_thread() -> None:
    """A flow thread never takes SIGTERM, SIGHUP or SIGINT: delivered to it, the signal would not wake the main
    thread waiting on the flows, and the cancellation would wait for them to end by themselves."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGHUP, signal.SIGINT})


def _run_one(config: pytest.Config, item: pytest.Function) -> PreRun:
    redact = config.stash[redactor_key]
    findings: list[dict[str, Any]] = []

    def record(finding: Finding) -> Finding:
        findings.append(redact.scrub_document(finding.to_dict()))
        if finding.outcome in (Outcome.FAILED, Outcome.INCONCLUSIVE):
            raise _Recorded(finding.message)
        return finding

    errors: list[BaseException] = []
    try:
        run = config.stash[run_key]
        service = service_of(item)
        assert service is not None
        target = Target(run.configured.name, service, config.stash[settings_key].expected_version, run)
        name = flow_name(item) or item.name
        log_in = _log_in_of(item)
        assert log_in is not None
        mutating = is_mutating(item, run.configured)
        context = flow_context(config, target, name, config.stash[run_id_key], log_in, record, item, mutating)
    except BaseException as error:
        return PreRun(findings, _ending(error, redact))
    fixtures: dict[str, Callable[[], Any]] = {
        "target": lambda: target,
        "run_id": lambda: config.stash[run_id_key],
        "log_in": lambda: log_in,
        "flow": lambda: context.session,
        "flow_client": lambda: context.client,
        "smoke_account": context.smoke_account,
        "login": lambda: context.login,
        "step": lambda: context.step,
        "cleanup": lambda: context.cleanup,
        "declared_flow": lambda: config.stash[environment_key].declared_flows[item.callspec.params[DECLARED]],
        "verify": lambda: record,
    }
    for part in (lambda: item.obj(**{name: fixtures[name]() for name in item._fixtureinfo.argnames}), context.finish):
        try:
            part()
        except _Recorded:
            pass
        except BaseException as error:
            errors.append(error)
    return PreRun(findings, _ending(errors[0], redact) if errors else None)


def _ending(error: BaseException, redact: Any) -> tuple[str, str]:
    if isinstance(error, pytest.skip.Exception):
        return "skip", redact(str(error.msg))
    if isinstance(error, Inconclusive):
        return "inconclusive", redact(str(error))
    if isinstance(error, AssertionError | pytest.fail.Exception):
        return "assertion", redact(str(error))
    return "error", redact(f"{type(error).__name__}: {error}")


def _report(prerun: PreRun, verify: Any) -> None:
    """Record what the flow found when it ran, and end its test as the flow ended."""
    __tracebackhide__ = True
    first: BaseException | None = None
    for data in prerun.findings:
        try:
            verify(Finding.from_dict(data))
        except (CheckFailed, Inconclusive) as error:
            first = first or error
    kind, message = prerun.ending or ("", "")
    if kind == "skip":
        pytest.skip(message)
    if kind == "inconclusive":
        raise Inconclusive(message)
    if kind == "assertion":
        raise AssertionError(message)
    if kind == "error":
        raise FlowBroke(message)
    if first is not None:
        raise first
