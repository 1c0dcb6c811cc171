"""The database checks end to end, against a private PostgreSQL: the schema at the expected head (Alembic, Flyway,
Django), a lock that holds a session up, a server that is down, a wrong password; each through the real suite."""

from __future__ import annotations

import contextlib
import json
import threading
import time

import psycopg
import pytest

from deploycheck.kinds.database.config import MIGRATION_TABLES
from tests.conftest import REPO, write_environment
from tests.hostile_servers import read_request, respond, serving

pytest_plugins = ["tests.postgres_server"]

CHECKS = [REPO / "checks" / "test_database.py"]
CHECKER, CHECKER_PASSWORD = "deploycheck_reader", "Ch3cker-Secret-pw"
UNREACHABLE_URL = "http://127.0.0.1:9"  # the database checks never ask the service itself

ALEMBIC = """
CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);
INSERT INTO alembic_version VALUES ('4f2e1c9a7b3d');
CREATE TABLE orders (id int PRIMARY KEY, total int);
INSERT INTO orders VALUES (1, 10);
"""
FLYWAY = """
CREATE TABLE flyway_schema_history (installed_rank int PRIMARY KEY, version varchar(50), description varchar(200),
  type varchar(20), script varchar(1000), checksum int, installed_by varchar(100), installed_on timestamp DEFAULT now(),
  execution_time int, success boolean NOT NULL);
INSERT INTO flyway_schema_history VALUES
  (1, '1', 'create orders', 'SQL', 'V1__create_orders.sql', 1, 'app', now(), 5, true),
  (2, '2', 'add totals', 'SQL', 'V2__add_totals.sql', 2, 'app', now(), 5, true),
  (3, '3', 'add index', 'SQL', 'V3__add_index.sql', 3, 'app', now(), 5, false);
"""
DJANGO = """
CREATE TABLE django_migrations (id serial PRIMARY KEY, app varchar(255), name varchar(255), applied timestamptz);
INSERT INTO django_migrations (app, name, applied) VALUES
  ('contenttypes', '0001_initial', now()), ('orders', '0001_initial', now()), ('orders', '0002_totals', now());
"""


@pytest.fixture(scope="module")
def cluster(postgres):
    """The session's cluster with the suite's own login, as docs/database.md recommends: it sees every session
    (pg_read_all_stats) and, in each database made below, may read the migrations table."""
    postgres.create_role(CHECKER, CHECKER_PASSWORD, "pg_read_all_stats")
    return postgres


@pytest.fixture
def environment(cluster, tmp_path, monkeypatch):
    """Write an environment whose services each have a database (name -> (script, database section))."""

    def write(**services: tuple[str, dict]):
        sections = {}
        for name, (script, database) in services.items():
            dbname = f"e2e_{name}"
            cluster.create_database(dbname, script=script)
            cluster.grant_reading(CHECKER, dbname, *existing_tables(cluster, dbname, MIGRATION_TABLES.values()))
            variable = f"{name.upper()}_DB_DSN"
            monkeypatch.setenv(variable, cluster.dsn(dbname, CHECKER, CHECKER_PASSWORD))
            sections[name] = {"url": UNREACHABLE_URL, "database": {"dsn": f"${{{variable}}}", **database}}
        return write_environment(tmp_path / "environments", "staging", sections)

    return write


def existing_tables(cluster, dbname: str, names) -> list[str]:
    with cluster.admin(dbname) as connection:
        return [name for name in names if connection.execute("SELECT to_regclass(%s)", (name,)).fetchone()[0]]


def wait_for_lock_wait(cluster, dbname: str, pid: int, seconds: float, timeout_s: float = 10.0) -> None:
    """Until session `pid` has waited on a lock for more than `seconds` (the server's own clock, pg_locks)."""
    deadline = time.monotonic() + timeout_s
    with cluster.admin(dbname) as connection:
        while True:
            row = connection.execute(
                "SELECT extract(epoch FROM now() - min(waitstart)) FROM pg_locks WHERE pid = %s AND NOT granted",
                (pid,),
            ).fetchone()
            if row[0] is not None and row[0] > seconds:
                return
            assert time.monotonic() < deadline, f"pid {pid} did not wait on a lock for {seconds}s"
            time.sleep(0.05)


def findings_of(run, service: str) -> dict[str, dict]:
    return {f["check"]: f for f in run.verdict["services"][service]["findings"]}


def test_alembic_at_the_expected_head_passes(environment, run_suite, workers):
    alembic = {"migrations": {"tool": "alembic", "expected_head": "4f2e1c9a7b3d"}}
    environments = environment(orders=(ALEMBIC, alembic), payments=(ALEMBIC, alembic))
    run = run_suite(environments, "--env", "staging", workers=workers, checks=CHECKS)

    assert run.ret == 0, run.stdout
    for service in ("orders", "payments"):
        found = findings_of(run, service)
        assert {check: f["outcome"] for check, f in found.items()} == {
            "database.reachable": "passed",
            "database.migrations_at_head": "passed",
            "database.no_blocking": "passed",
            "database.replication_lag": "skipped",
            "database.least_privilege": "passed",
        }
        assert found["database.reachable"]["observed"]["read_only"] is True
        assert found["database.migrations_at_head"]["observed"] == "4f2e1c9a7b3d"
        assert "alembic_version" in found["database.migrations_at_head"]["source"]["queries"]["migrations"]
    assert CHECKER_PASSWORD not in run.stdout and CHECKER_PASSWORD not in str(run.verdict)


def test_alembic_one_revision_behind_fails_naming_both(environment, run_suite, workers):
    environments = environment(orders=(ALEMBIC, {"migrations": {"tool": "alembic"}}))
    run = run_suite(
        environments, "--env", "staging", "--expected-migration", "9a8b7c6d5e4f", workers=workers, checks=CHECKS
    )

    assert run.ret == 1, run.stdout
    assert run.not_passed() == {("orders", "database.migrations_at_head"): "failed"}
    message = findings_of(run, "orders")["database.migrations_at_head"]["message"]
    assert "4f2e1c9a7b3d" in message and "9a8b7c6d5e4f" in message and "--expected-migration" in message


def test_without_an_expected_head_the_check_is_skipped_with_the_applied_head(environment, run_suite):
    environments = environment(orders=(ALEMBIC, {"migrations": {"tool": "alembic"}}))
    run = run_suite(environments, "--env", "staging", checks=CHECKS)

    assert run.ret == 0, run.stdout
    finding = findings_of(run, "orders")["database.migrations_at_head"]
    assert finding["outcome"] == "skipped" and finding["observed"] == "4f2e1c9a7b3d"
    assert "no expected head" in finding["message"]


def test_a_failed_flyway_migration_fails(environment, run_suite):
    environments = environment(orders=(FLYWAY, {"migrations": {"tool": "flyway", "expected_head": "2"}}))
    run = run_suite(environments, "--env", "staging", checks=CHECKS)

    assert run.ret == 1, run.stdout
    assert run.not_passed() == {("orders", "database.migrations_at_head"): "failed"}
    message = findings_of(run, "orders")["database.migrations_at_head"]["message"]
    assert "failed migration" in message and "version 3 (add index" in message


def test_an_unapplied_django_migration_fails(environment, run_suite, workers):
    expected = "orders=0003_index, contenttypes=0001_initial"
    environments = environment(orders=(DJANGO, {"migrations": {"tool": "django", "expected_head": expected}}))
    run = run_suite(environments, "--env", "staging", workers=workers, checks=CHECKS)

    assert run.ret == 1, run.stdout
    assert run.not_passed() == {("orders", "database.migrations_at_head"): "failed"}
    message = findings_of(run, "orders")["database.migrations_at_head"]["message"]
    assert "orders: 0003_index is not applied (applied head 0002_totals)" in message
    assert "contenttypes" not in message


def test_a_custom_query_reads_the_head_inside_a_subquery(environment, run_suite, workers):
    query = "SELECT version_num FROM alembic_version -- the head; one row\n;"
    migrations = {"tool": "sql", "query": query, "expected_head": "4f2e1c9a7b3d"}
    environments = environment(orders=(ALEMBIC, {"migrations": migrations}))
    run = run_suite(environments, "--env", "staging", workers=workers, checks=CHECKS)

    assert run.ret == 0, run.stdout
    finding = findings_of(run, "orders")["database.migrations_at_head"]
    assert finding["outcome"] == "passed" and finding["observed"] == "4f2e1c9a7b3d"
    assert finding["source"]["queries"]["migrations"].startswith("SELECT * FROM (\nSELECT version_num")


def test_a_missing_migrations_table_fails_and_says_which(environment, run_suite):
    environments = environment(orders=("", {"migrations": {"tool": "rails", "expected_head": "20261127120000"}}))
    run = run_suite(environments, "--env", "staging", checks=CHECKS)

    assert run.ret == 1, run.stdout
    message = findings_of(run, "orders")["database.migrations_at_head"]["message"]
    assert "schema_migrations does not exist" in message


def test_a_session_waiting_on_a_lock_beyond_the_limit_fails_naming_both(cluster, environment, run_suite, workers):
    environments = environment(orders=(ALEMBIC, {"max_lock_wait": "1s"}))
    holder = cluster.admin("e2e_orders")
    holder.execute("BEGIN")
    holder.execute("UPDATE orders SET total = 11 WHERE id = 1")
    holder_pid = holder.info.backend_pid
    waiter = cluster.admin("e2e_orders")
    waiter_pid = waiter.info.backend_pid
    blocked = threading.Thread(target=_update_ignoring_cancel, args=(waiter,))
    blocked.start()
    try:
        wait_for_lock_wait(cluster, "e2e_orders", waiter_pid, seconds=1.2)  # past the 1s limit
        run = run_suite(environments, "--env", "staging", workers=workers, checks=CHECKS)
    finally:
        holder.execute("ROLLBACK")
        blocked.join(10)
        holder.close()
        waiter.close()

    assert run.ret == 1, run.stdout
    assert run.not_passed() == {("orders", "database.no_blocking"): "failed"}
    message = findings_of(run, "orders")["database.no_blocking"]["message"]
    assert f"pid {waiter_pid} has waited" in message and f"held by pid {holder_pid}" in message
    assert "UPDATE orders SET total = 11" in message


def _update_ignoring_cancel(connection: psycopg.Connection) -> None:
    # The test ends the wait by rolling the holder back; how this update ends is not what the test judges.
    with contextlib.suppress(psycopg.Error):
        connection.execute("UPDATE orders SET total = 12 WHERE id = 1")


def test_a_stopped_server_fails_with_a_clear_message(postgres_factory, tmp_path, monkeypatch, run_suite, workers):
    server = postgres_factory()
    monkeypatch.setenv("ORDERS_DB_DSN", server.dsn())
    server.stop()
    services = {"orders": {"url": UNREACHABLE_URL, "database": {"dsn": "${ORDERS_DB_DSN}", "connect_timeout": "2s"}}}
    environments = write_environment(tmp_path / "environments", "staging", services)
    run = run_suite(environments, "--env", "staging", workers=workers, checks=CHECKS)

    assert run.ret == 1, run.stdout
    found = findings_of(run, "orders")
    assert found["database.reachable"]["outcome"] == "failed"
    assert found["database.reachable"]["message"].startswith(f"postgres 127.0.0.1:{server.port}/postgres: cannot")
    assert "check that the database is up" in found["database.reachable"]["message"]
    assert found["database.no_blocking"]["outcome"] == "inconclusive"


def test_a_wrong_password_never_shows(cluster, tmp_path, monkeypatch, run_suite):
    wrong = "Wr0ng-Database-pw"
    cluster.create_database("e2e_wrong")
    monkeypatch.setenv("ORDERS_DB_PASSWORD", wrong)
    database = {"host": "127.0.0.1", "port": cluster.port, "dbname": "e2e_wrong", "user": CHECKER,
                "password": "${ORDERS_DB_PASSWORD}"}  # fmt: skip
    services = {"orders": {"url": UNREACHABLE_URL, "database": database}}
    environments = write_environment(tmp_path / "environments", "staging", services)
    run = run_suite(environments, "--env", "staging", "-l", checks=CHECKS)

    assert run.ret == 6, run.stdout
    finding = findings_of(run, "orders")["database.reachable"]
    assert finding["outcome"] == "inconclusive"
    assert "authentication failed" in finding["message"] and "check the user and password" in finding["message"]
    assert wrong not in run.stdout and wrong not in str(run.verdict)


def test_a_rollback_over_a_newer_schema_is_named_in_the_verdict(cluster, environment, run_suite, tmp_path):
    environments = environment(orders=(ALEMBIC, {"migrations": {"tool": "alembic"}}))
    recorded = tmp_path / "baseline.json"
    before = run_suite(
        environments, "--env", "staging", "--record-baseline", "--baseline", str(recorded), checks=CHECKS
    )
    assert before.ret == 0, before.stdout
    assert json.loads(recorded.read_text())["schema_heads"] == {"orders": "4f2e1c9a7b3d"}

    with cluster.admin("e2e_orders") as connection:  # the deploy migrated forward, and the new code is broken
        connection.execute("UPDATE alembic_version SET version_num = '7d6c5b4a3f2e'")
    after = run_suite(
        environments, "--env", "staging", "--baseline", str(recorded), "--expected-migration", "8e7d6c5b4a3f",
        checks=CHECKS,
    )  # fmt: skip

    assert after.ret == 1 and after.verdict["action"] == "rollback", after.stdout
    (warning,) = [w for w in after.verdict["warnings"] if "schema head" in w]
    assert "7d6c5b4a3f2e" in warning and "4f2e1c9a7b3d" in warning and "rolling back the code over a newer" in warning


@pytest.mark.parametrize(("schema", "outcome"), [("4f2e1c9a7b3d", "passed"), ("5a4b3c2d1e0f", "failed")])
def test_the_expected_head_can_come_from_the_version_answer(cluster, tmp_path, monkeypatch, run_suite, schema, outcome):
    body = json.dumps({"version": "v2.3.1", "schema": schema}).encode()

    def version(connection, stop):
        read_request(connection)
        respond(connection, "200 OK", body)

    cluster.create_database("e2e_versioned", script=ALEMBIC)
    cluster.grant_reading(CHECKER, "e2e_versioned", "alembic_version")
    monkeypatch.setenv("ORDERS_DB_DSN", cluster.dsn("e2e_versioned", CHECKER, CHECKER_PASSWORD))
    with serving(version) as service:
        database = {"dsn": "${ORDERS_DB_DSN}", "migrations": {"tool": "alembic", "version_field": "schema"}}
        environments = write_environment(
            tmp_path / "environments", "staging", {"orders": {"url": service.url, "database": database}}
        )
        run = run_suite(environments, "--env", "staging", checks=CHECKS)

    finding = findings_of(run, "orders")["database.migrations_at_head"]
    assert finding["outcome"] == outcome, run.stdout
    assert finding["limit"] == {"head": schema, "from": "field 'schema' of the /version answer"}
    assert "4f2e1c9a7b3d" in finding["message"] and schema in finding["message"]
