"""A later section's `${VAR}`s are demanded only when a selected check reads that section."""

from __future__ import annotations

import pytest
import yaml

from deploycheck.config.loader import load_environment
from deploycheck.evidence.probe import Probe
from deploycheck.evidence.registry import PROBES
from deploycheck_plugins.targets import _require_resolved


@pytest.fixture
def environment(tmp_path):
    document = {
        "environment": "staging",
        "services": {"orders": {"url": "http://127.0.0.1:9", "database": {"dsn": "${ORDERS_DB_DSN}"}}},
    }
    (tmp_path / "staging.yaml").write_text(yaml.safe_dump(document))
    return load_environment(tmp_path, "staging", environ={}, sections=())  # as a run loads it: core keys only


@pytest.fixture
def database_probe(monkeypatch):
    monkeypatch.setitem(PROBES, "migrations", Probe("migrations", "postgres", "database", lambda e, s: None))


def test_an_unset_variable_of_an_unread_section_is_no_error(environment):
    _require_resolved(environment, [("orders", "health")])


def test_a_selected_check_that_reads_it_makes_it_a_usage_error(environment, database_probe):
    with pytest.raises(pytest.UsageError, match=r"services.orders.database: \$\{ORDERS_DB_DSN\} is not set"):
        _require_resolved(environment, [("orders", "migrations")])
