"""The postgres probe against a real PostgreSQL: its sessions cannot write, its failures say which, and no
secret shows in what it returns."""

from __future__ import annotations

import asyncio
import shutil

import pytest

from deploycheck.evidence.base import Evidence
from deploycheck.findings import Outcome
from deploycheck.kinds.database import rules as database_rules
from deploycheck.kinds.database.config import Database
from deploycheck.kinds.database.probes import REPLICATION_SQL
from deploycheck.kinds.database.session import DatabaseAnswer, PostgresRequest, PostgresSession, where_of
from tests.postgres_server import start_replica

pytest_plugins = ["tests.postgres_server"]

PASSWORD = "Pr0be-Secret-pw"


@pytest.fixture(scope="module")
def probe_database(postgres):
    """A database owned by the role the probe logs in as (so only read-only-ness can stop its writes)."""
    postgres.create_role("probe_owner", PASSWORD)
    postgres.create_database("probe_db", owner="probe_owner")
    with postgres.admin("probe_db") as connection:
        connection.execute("CREATE TABLE ledger (amount int)")
        connection.execute("INSERT INTO ledger VALUES (1)")
        connection.execute("ALTER TABLE ledger OWNER TO probe_owner")
    return postgres


def fetch(conninfo: str, queries: dict[str, str], secrets: tuple[str, ...] = (), timeout_s: float = 3.0) -> Evidence:
    request = PostgresRequest(conninfo, where_of(conninfo), queries, timeout_s, timeout_s, secrets)

    async def run() -> Evidence:
        async with PostgresSession() as session:
            return await session.fetch(request)

    return asyncio.run(run())


def test_an_attempted_write_through_the_session_fails_and_changes_nothing(probe_database):
    attempts = {
        "insert": "INSERT INTO ledger VALUES (2)",
        "escape_by_commit": "COMMIT; INSERT INTO ledger VALUES (3)",
        "read_write": "SET TRANSACTION READ WRITE",
        "ddl": "DROP TABLE ledger",
        "count": "SELECT count(*) FROM ledger",
    }
    evidence = fetch(probe_database.dsn("probe_db", "probe_owner", PASSWORD), attempts)

    assert evidence.ok, evidence.error
    answer = evidence.value
    assert isinstance(answer, DatabaseAnswer) and answer.read_only
    states = {name: answer.answers[name].sqlstate for name in attempts}
    assert states == {
        "insert": "25006",  # read_only_sql_transaction
        "escape_by_commit": "42601",  # one statement only: the extended protocol refuses two
        "read_write": "25001",  # active_sql_transaction: not inside a read-only transaction
        "ddl": "25006",
        "count": None,
    }
    assert answer.answers["count"].rows == ((1,),)
    with probe_database.admin("probe_db") as connection:
        assert connection.execute("SELECT count(*) FROM ledger").fetchone() == (1,)


def test_round_trip_version_and_role_are_recorded(probe_database):
    evidence = fetch(probe_database.dsn("probe_db", "probe_owner", PASSWORD), {})

    answer = evidence.value
    assert answer.round_trip_ms > 0 and answer.connect_ms > 0
    assert answer.server_version.split(".")[0].isdigit() and answer.in_recovery is False
    assert evidence.source["host"] == "127.0.0.1" and evidence.source["dbname"] == "probe_db"
    assert "password" not in evidence.source and "user" not in evidence.source


def test_a_wrong_password_is_an_authentication_failure_without_the_secrets(probe_database):
    wrong = "Wr0ng-Pass-word"
    dsn = probe_database.dsn("probe_db", "probe_owner", wrong)
    evidence = fetch(dsn, {}, secrets=(dsn, wrong, '"probe_owner"'))

    assert evidence.value is None
    assert evidence.error.startswith("authentication failed: "), evidence.error
    shown = repr(evidence)
    assert wrong not in shown and dsn not in shown and "probe_owner" not in shown


def test_a_stopped_server_cannot_be_connected_to(postgres_factory):
    server = postgres_factory()
    dsn = server.dsn()
    server.stop()

    evidence = fetch(dsn, {})

    assert evidence.value is None and evidence.error.startswith("cannot connect: "), evidence.error
    assert "refused" in evidence.error.lower()


def test_a_query_that_waits_on_a_lock_is_cut_by_the_statement_timeout(probe_database):
    with probe_database.admin("probe_db") as holder:
        holder.execute("BEGIN")
        holder.execute("LOCK TABLE ledger IN ACCESS EXCLUSIVE MODE")
        evidence = fetch(
            probe_database.dsn("probe_db", "probe_owner", PASSWORD), {"read": "SELECT * FROM ledger"}, timeout_s=1.0
        )
        holder.execute("ROLLBACK")

    read = evidence.value.answers["read"]
    assert read.sqlstate in ("55P03", "57014"), read  # lock_timeout or statement_timeout
    assert read.elapsed_ms < 3000


def test_a_replica_says_it_is_one_and_how_far_behind_it_is(postgres_factory):
    primary = postgres_factory()
    primary.create_suite_role("reader", PASSWORD, "postgres")  # a superuser's session would be refused
    replica = start_replica(primary)
    try:
        with primary.admin() as connection:
            connection.execute("CREATE TABLE ticks (at timestamptz DEFAULT now())")
            connection.execute("INSERT INTO ticks DEFAULT VALUES")
        evidence = fetch(replica.dsn(user="reader", password=PASSWORD), {"replication": REPLICATION_SQL})
    finally:
        replica.stop()
        shutil.rmtree(replica.directory, ignore_errors=True)

    answer = evidence.value
    assert answer is not None and answer.in_recovery, evidence.error
    status = answer.answers["replication"].records()[0]
    assert status["in_recovery"] is True and status["caught_up"] in (True, False)
    lag = database_rules.replication_lag(evidence, Database(max_replication_lag=30.0))
    assert lag.outcome is Outcome.PASSED and lag.observed < 30.0, lag.message
