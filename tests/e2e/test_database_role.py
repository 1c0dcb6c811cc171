"""The database checks refuse a credential that could act outside a read-only session, end to end against a real
PostgreSQL: a superuser (a function the custom query calls would run a program on the database host), a member of
pg_signal_backend, a role that can create roles; a custom query that is not one read-only query stops the run
before any session; a role that owns the tables it reads passes with a warning. The recommended role's pass is
tests/e2e/test_database.py::test_alembic_at_the_expected_head_passes (its CHECKER is that role)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
from psycopg import sql

from tests.conftest import REPO, write_environment
from tests.postgres_server import SUPERUSER_PASSWORD

pytest_plugins = ["tests.postgres_server"]

CHECKS = [REPO / "checks" / "test_database.py"]
PASSWORD = "R0le-E2e-Secret-pw"
URL = "http://127.0.0.1:9"  # the database checks never ask the service itself
ROLE_FIX = "CREATE ROLE deploycheck LOGIN"
SCHEMA = """
CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);
INSERT INTO alembic_version VALUES ('4f2e1c9a7b3d');
"""
# A function a team might call from its custom query; run by a superuser, it runs a program on the database host.
SHELL_OUT = """
CREATE FUNCTION deployed_schema() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('COPY (SELECT 1) TO PROGRAM %L', 'touch {planted}');
  RETURN (SELECT version_num FROM alembic_version);
END $$;
"""


@pytest.fixture
def planted(postgres):
    """A file the database server's user could create, which must never appear."""
    path = postgres.directory / f"planted-{uuid.uuid4().hex[:8]}"
    yield path
    path.unlink(missing_ok=True)


@pytest.fixture
def login(postgres):
    """login(*options, member_of=()) -> the DSN of a fresh role, in a fresh database e2e_role holding SCHEMA."""
    postgres.create_database("e2e_role", script=SCHEMA)
    made: list[str] = []

    def make(*options: str, member_of: tuple[str, ...] = ()) -> str:
        name = f"e2e_{uuid.uuid4().hex[:8]}"
        made.append(name)
        postgres.create_role(name, PASSWORD, *member_of)
        with postgres.admin() as connection:
            if options:
                connection.execute(sql.SQL(f"ALTER ROLE {{}} {' '.join(options)}").format(sql.Identifier(name)))
        postgres.grant_reading(name, "e2e_role", "alembic_version")
        return postgres.dsn("e2e_role", name, PASSWORD)

    yield make
    postgres.create_database("e2e_role")  # drops what the roles own or were granted there
    with postgres.admin() as connection:
        for name in made:
            connection.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
            connection.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def environment(tmp_path, monkeypatch, dsn: str, migrations: dict) -> tuple:
    monkeypatch.setenv("ORDERS_DB_DSN", dsn)
    services = {"orders": {"url": URL, "database": {"dsn": "${ORDERS_DB_DSN}", "migrations": migrations}}}
    return write_environment(tmp_path / "environments", "staging", services)


def findings_of(run) -> dict[str, dict]:
    assert run.verdict is not None, run.stdout
    return {f["check"]: f for f in run.verdict["services"]["orders"]["findings"]}


def test_a_superuser_is_refused_and_the_function_its_query_calls_never_runs(
    postgres, planted, tmp_path, monkeypatch, run_suite, workers
):
    postgres.create_database("e2e_role", script=SCHEMA + SHELL_OUT.format(planted=planted))
    query = {"tool": "sql", "query": "SELECT deployed_schema()", "expected_head": "4f2e1c9a7b3d"}
    environments = environment(tmp_path, monkeypatch, postgres.dsn("e2e_role"), query)

    run = run_suite(environments, "--env", "staging", workers=workers, checks=CHECKS)

    assert run.ret == 6, run.stdout
    assert not planted.exists()
    found = findings_of(run)
    reachable = found["database.reachable"]
    assert reachable["outcome"] == "inconclusive"
    assert "the suite's role is a superuser" in reachable["message"] and ROLE_FIX in reachable["message"]
    assert reachable["observed"]["role"]["powers"]["rolsuper"] == ["itself"]
    assert found["database.migrations_at_head"]["outcome"] == "inconclusive"
    assert "too strong" in found["database.migrations_at_head"]["message"]
    assert found["database.no_blocking"]["outcome"] == "inconclusive"
    assert found["database.least_privilege"]["severity"] == "warning"  # advisory, inconclusive: see reachable
    assert SUPERUSER_PASSWORD not in run.stdout and SUPERUSER_PASSWORD not in str(run.verdict)
    assert postgres.dsn("e2e_role") not in run.stdout


@pytest.mark.parametrize(
    ("options", "member_of", "why"),
    [
        ((), ("pg_signal_backend",), "is a member of pg_signal_backend (can end other sessions)"),
        (("CREATEROLE",), (), "can create roles (CREATEROLE)"),
    ],
    ids=["pg_signal_backend", "createrole"],
)
def test_a_role_that_could_end_sessions_or_mint_roles_is_refused(
    login, tmp_path, monkeypatch, run_suite, workers, options, member_of, why
):
    migrations = {"tool": "alembic", "expected_head": "4f2e1c9a7b3d"}
    environments = environment(tmp_path, monkeypatch, login(*options, member_of=member_of), migrations)

    run = run_suite(environments, "--env", "staging", workers=workers, checks=CHECKS)

    assert run.ret == 6 and run.verdict["verdict"] == "INCONCLUSIVE", run.stdout
    assert run.not_passed() == {
        ("orders", "database.reachable"): "inconclusive",
        ("orders", "database.migrations_at_head"): "inconclusive",
        ("orders", "database.no_blocking"): "inconclusive",
        ("orders", "database.least_privilege"): "inconclusive",  # advisory: it does not decide
    }
    message = findings_of(run)["database.reachable"]["message"]
    assert f"the suite's role {why}" in message and ROLE_FIX in message
    assert any(why in reason for reason in run.verdict["reasons"])


def test_a_role_that_owns_the_tables_it_reads_passes_with_a_warning(
    postgres, login, tmp_path, monkeypatch, run_suite, workers
):
    dsn = login()
    with postgres.admin("e2e_role") as connection:
        owner = sql.Identifier(dsn.split("user=")[1].split()[0])
        connection.execute(sql.SQL("ALTER TABLE alembic_version OWNER TO {}").format(owner))
    environments = environment(tmp_path, monkeypatch, dsn, {"tool": "alembic", "expected_head": "4f2e1c9a7b3d"})

    run = run_suite(environments, "--env", "staging", workers=workers, checks=CHECKS)

    assert run.ret == 0 and run.verdict["verdict"] == "PASS", run.stdout
    warning = findings_of(run)["database.least_privilege"]
    assert warning["outcome"] == "failed" and warning["severity"] == "warning"
    assert "owns 1 table(s) or view(s) of schema public: alembic_version" in warning["message"]
    assert ROLE_FIX in warning["message"]
    assert warning["observed"]["owned_tables"] == ["alembic_version"]


@pytest.mark.parametrize(
    ("query", "why"),
    [
        ("COPY (SELECT 1) TO PROGRAM 'touch {planted}'", "it starts with COPY"),
        ("SELECT 1; COPY (SELECT 1) TO PROGRAM 'touch {planted}'", "more than one statement"),
        ("SELECT pg_terminate_backend(pid)::text FROM pg_stat_activity", "it calls pg_terminate_backend"),
    ],
    ids=["copy", "two-statements", "terminate"],
)
def test_a_custom_query_that_is_not_one_read_only_query_stops_before_any_session(
    postgres, planted, tmp_path, monkeypatch, run_suite, query, why
):
    postgres.create_database("e2e_role", script=SCHEMA)
    migrations = {"tool": "sql", "query": query.format(planted=planted)}
    environments = environment(tmp_path, monkeypatch, postgres.dsn("e2e_role"), migrations)

    validated = subprocess.run(
        [sys.executable, "-m", "deploycheck", "validate", "--environments-dir", str(environments)],
        cwd=REPO, env=os.environ, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    run = run_suite(environments, "--env", "staging", checks=CHECKS)

    assert validated.returncode == 4 and why in validated.stdout + validated.stderr, validated
    assert "services.orders.database.migrations" in validated.stdout + validated.stderr
    assert run.ret == 4 and why in run.stdout, run.stdout
    assert not planted.exists()
    assert SUPERUSER_PASSWORD not in run.stdout + validated.stdout + validated.stderr
