"""`--watch`: after the checks, the metric rules again every `--interval`, on the controller, with each round's
figures on the terminal; the rounds and one finding per watched rule (`watch.latency.p95`, ...) go into the
verdict. A run that already failed is not watched: its verdict is decided."""

from __future__ import annotations

import time

import pytest

from deploycheck.demo import DemoError
from deploycheck.findings import Finding, Outcome
from deploycheck.kinds.metrics.watch import Round, WatchResult, watch
from deploycheck_plugins.targets import run_key, settings_key
from deploycheck_plugins.verdict import collector_key

watch_key = pytest.StashKey[WatchResult]()


@pytest.hookimpl(tryfirst=True)  # before the verdict collector (trylast) builds the document
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    collector = config.stash.get(collector_key, None)
    if collector is None or not config.stash[settings_key].watch_s or exitstatus in (2, 3, 4):
        return
    if any(f.deciding and f.outcome is Outcome.FAILED for found in collector.findings.values() for f in found):
        return
    settings = config.stash[settings_key]
    run = config.stash[run_key]
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    try:
        run.start_demo()
    except DemoError:
        return  # every check already said so
    if reporter is not None:
        reporter.write_line("")  # after the progress line, which xdist may leave open
        reporter.section(f"deploycheck watch: {settings.watch_s:g}s, every {settings.interval_s:g}s", sep="-")
    started = time.time()
    said: list[str] = []

    def show(round_: Round, result: WatchResult) -> None:
        if reporter is None:
            return
        left = max(0.0, started + settings.watch_s - time.time())
        breaches = sum(result.breaches.values())
        reporter.write_line(
            f"round {round_.number} ({left:.0f}s left, {breaches} breaches, limit {result.failure_limit})"
        )
        if result.back_to_back and not said:
            said.append(result.back_to_back)  # once, at the round that showed it
            reporter.write_line(result.back_to_back, yellow=True)
        for (service, check), finding in round_.findings.items():
            failed = finding.outcome is Outcome.FAILED
            reporter.write_line(
                f"  {service:<20} {check:<26} {_figure(finding):>12}  {finding.outcome.value}", red=failed
            )

    result = watch(run.configured, run.settings, settings.watch_s, settings.interval_s, settings.failure_limit, show)
    config.stash[watch_key] = result
    collector.add_watch(result)


def _figure(finding: Finding) -> str:
    """The round's figure, as a person reads it: 182 ms, 0.40 %."""
    if not isinstance(finding.observed, int | float):
        return "-"
    if finding.unit == "ratio":
        return f"{finding.observed * 100:.2f} %"
    return f"{finding.observed:g} {finding.unit or ''}".strip()
