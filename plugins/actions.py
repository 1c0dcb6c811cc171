"""`--rollback`, `--promote` (and `--dry-run`): a listener of the verdict hook that rolls back the services a FAIL
verdict condemned, or switches blue-green traffic to the idle colour that passed, as `deploycheck.actions`
decides, and records what it did in the verdict's `actions`. Runs on the controller only, once per run. An action
that failed, or left its service broken, turns the exit status into `ACTION_FAILED_EXIT_STATUS` (7), so a
pipeline knows the service still needs a person."""

from __future__ import annotations

from typing import Any

import pytest

from deploycheck.actions import promote, rollback
from deploycheck.verdict import ACTION_FAILED_EXIT_STATUS, Verdict
from deploycheck_plugins.targets import live_urls_key, redactor_key, run_key, settings_key


def pytest_deploycheck_verdict(config: pytest.Config, document: dict[str, Any]) -> None:
    settings = config.stash[settings_key]
    environment = config.stash[run_key].configured
    live: dict[str, str] = config.stash.get(live_urls_key, {})
    actions: list[dict[str, Any]] = []
    if settings.rollback or (settings.dry_run and not settings.promote):
        actions += rollback.rollback(environment, document, settings.approve, settings.dry_run, previewed=live)
    if settings.promote:
        actions += promote.promote(environment, live, document, settings.approve, settings.dry_run)
    document["actions"].extend(config.stash[redactor_key].scrub_document(action) for action in actions)
    acted_badly = rollback.failed(actions) or promote.failed(actions)
    if acted_badly and document["exit_status"] in (Verdict.PASS.exit_status, Verdict.FAIL.exit_status):
        document["exit_status"] = ACTION_FAILED_EXIT_STATUS
