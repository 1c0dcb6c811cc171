"""The service's database answers, its schema is at the head this version expects, and nothing is stuck.

All five read one piece of evidence, `database`: a read-only session per service, opened for every selected service
at once before the first check runs. A role that could act outside a read-only session is refused before any query.
"""

import pytest

from deploycheck.kinds.database import rules


def test_reachable(database, verify):
    """A connection and a trivial query, in a read-only session; the round trip is recorded."""
    verify(rules.reachable(database))


def test_migrations_at_head(target, database, request, verify):
    """The applied migrations head equals the expected one (--expected-migration, the configuration, or /version)."""
    migrations = target.require("database").migrations
    if migrations is None:
        pytest.skip(f"{target.id}: no `database.migrations` configured for this service")
    version = request.getfixturevalue("version") if migrations.version_field and _has_version(target) else None
    expected = rules.expected_head(target.expected_migration, migrations, version)
    finding = verify(rules.migrations_at_head(database, migrations, expected))
    if finding.outcome.value == "skipped":
        pytest.skip(finding.message)


def test_no_blocking(target, database, verify):
    """No session waits on a lock, and no transaction runs or idles in transaction, beyond the limits."""
    verify(rules.no_blocking(database, target.require("database")))


def test_replication_lag(target, database, verify):
    """On a replica: the lag behind the primary is under `database.max_replication_lag`."""
    if database.ok and not rules.is_replica(database):
        pytest.skip(f"{target.id}: the database is a primary, not a replica")
    verify(rules.replication_lag(database, target.require("database")))


@pytest.mark.advisory(reason="the read-only session already stops a table owner's writes")
def test_least_privilege(database, verify):
    """The suite's role owns none of the tables it reads, cannot write every table, does not bypass row security."""
    verify(rules.least_privilege(database))


def _has_version(target):
    return target.service.version is not None
