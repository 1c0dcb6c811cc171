"""The judgement of database evidence: pure functions, fed the answers a session would give."""

from __future__ import annotations

import pytest

from deploycheck.evidence.base import Evidence
from deploycheck.findings import Outcome
from deploycheck.kinds.database import rules
from deploycheck.kinds.database.config import Database, Migrations
from deploycheck.kinds.database.role import RoleAnswer
from deploycheck.kinds.database.session import DatabaseAnswer, QueryAnswer
from deploycheck.kinds.http.session import HttpResponse

SOURCE = {"kind": "postgres", "host": "db.internal", "port": "5432", "dbname": "orders"}
LIMITS = Database(max_lock_wait=5.0, max_transaction_age=60.0, max_replication_lag=10.0)


def evidence(replica: bool = False, read_only: bool = True, **answers: QueryAnswer) -> Evidence:
    return Evidence(SOURCE, DatabaseAnswer(3.0, 0.8, "16.2", replica, read_only, answers), elapsed_ms=4.0)


def rows(columns: str, *values: tuple) -> QueryAnswer:
    return QueryAnswer("SELECT ...", tuple(columns.split()), tuple(values))


def failed_query(sqlstate: str, error: str = "it failed") -> QueryAnswer:
    return QueryAnswer("SELECT ...", error=error, sqlstate=sqlstate)


@pytest.mark.parametrize(
    ("error", "outcome", "hint"),
    [
        ("cannot connect: Connection refused", Outcome.FAILED, "check that the database is up"),
        ("no answer within 5s: the connection did not complete", Outcome.FAILED, "raise connect_timeout"),
        ("authentication failed: password authentication failed for user ***", Outcome.INCONCLUSIVE, "password"),
        ('no such database: database "x" does not exist', Outcome.INCONCLUSIVE, "database name"),
        ("permission denied: for database orders", Outcome.INCONCLUSIVE, "CONNECT"),
    ],
)
def test_a_failed_connection_says_which_and_what_to_check(error, outcome, hint):
    finding = rules.reachable(Evidence(SOURCE, error=error))

    assert finding.outcome is outcome
    assert finding.message.startswith(f"postgres db.internal:5432/orders: {error}: ") and hint in finding.message


def test_reachable_records_the_round_trip_and_refuses_a_session_that_is_not_read_only():
    passed = rules.reachable(evidence())
    assert passed.outcome is Outcome.PASSED and passed.observed["round_trip_ms"] == 0.8 and passed.unit == "ms"
    assert rules.reachable(evidence(read_only=False)).outcome is Outcome.INCONCLUSIVE


ALEMBIC = Migrations(tool="alembic")


@pytest.mark.parametrize(
    ("applied", "expected", "outcome"),
    [
        (("ae1027a6acf",), "ae1027a6acf", Outcome.PASSED),
        (("ae1027a6acf",), "1975ea83b712", Outcome.FAILED),
        (("b2", "a1"), "a1,b2", Outcome.PASSED),  # two heads of a branched history, in any order
        ((), "a1", Outcome.FAILED),
    ],
)
def test_alembic_heads_are_compared_as_a_set(applied, expected, outcome):
    answer = evidence(migrations=rows("version_num", *((head,) for head in applied)))
    finding = rules.migrations_at_head(answer, ALEMBIC, rules.Expected(expected, "--expected-migration"))

    assert finding.outcome is outcome, finding.message
    if outcome is Outcome.FAILED and applied:
        assert f"applied head {applied[0]}, expected {expected}" in finding.message


def test_flyway_versions_compare_by_number_and_a_failed_row_fails_whatever_the_head():
    flyway = Migrations(tool="flyway")
    head = rows("version description installed_rank", ("1.10", "add index", 7))
    at_head = rules.migrations_at_head(
        evidence(migrations=head, failed_migrations=rows("version description installed_rank script")),
        flyway,
        rules.Expected("V1_10", "database.migrations.expected_head"),
    )
    assert at_head.outcome is Outcome.PASSED, at_head.message

    failed = rows("version description installed_rank script", ("1.11", "drop column", 8, "V1_11__drop.sql"))
    finding = rules.migrations_at_head(
        evidence(migrations=head, failed_migrations=failed), flyway, rules.Expected("1.10", "config")
    )
    assert finding.outcome is Outcome.FAILED and "version 1.11 (drop column, rank 8)" in finding.message


def test_django_is_judged_per_app():
    django = Migrations(tool="django")
    applied = rows("app name", ("orders", "0001_initial"), ("orders", "0002_totals"), ("auth", "0012_user"))
    answer = evidence(migrations=applied)

    assert rules.migrations_at_head(
        answer, django, rules.Expected("orders=0002_totals,auth:0012_user", "x")
    ).outcome is (Outcome.PASSED)
    behind = rules.migrations_at_head(answer, django, rules.Expected("orders=0003_index", "x"))
    assert behind.outcome is Outcome.FAILED
    assert "orders: 0003_index is not applied (applied head 0002_totals)" in behind.message
    ahead = rules.migrations_at_head(answer, django, rules.Expected("orders=0001_initial", "x"))
    assert "newer than the expected 0001_initial" in ahead.message
    unusable = rules.migrations_at_head(answer, django, rules.Expected("0003_index", "x"))
    assert unusable.outcome is Outcome.INCONCLUSIVE and "app=migration" in unusable.message


@pytest.mark.parametrize(
    ("sqlstate", "outcome", "words"),
    [
        ("42P01", Outcome.FAILED, "alembic_version does not exist"),
        ("42501", Outcome.INCONCLUSIVE, "permission denied reading alembic_version"),
        ("57014", Outcome.INCONCLUSIVE, "timed out"),
    ],
)
def test_a_migrations_table_that_cannot_be_read_is_never_a_pass(sqlstate, outcome, words):
    finding = rules.migrations_at_head(
        evidence(migrations=failed_query(sqlstate)), ALEMBIC, rules.Expected("a1", "--expected-migration")
    )
    assert finding.outcome is outcome and words in finding.message


def test_without_an_expected_head_the_applied_one_is_recorded_and_nothing_judged():
    finding = rules.migrations_at_head(evidence(migrations=rows("version_num", ("a1",))), ALEMBIC, rules.Expected(None))
    assert finding.outcome is Outcome.SKIPPED and finding.observed == "a1" and "a1" in finding.message


def test_the_expected_head_comes_from_the_option_then_the_configuration_then_version():
    from_version = Migrations(tool="alembic", version_field="build.schema")
    body = '{"build": {"schema": "c3"}}'
    answer = HttpResponse(200, body, {"build": {"schema": "c3"}}, {}, truncated=False, size=len(body))
    version = Evidence({"url": "http://api/version"}, answer)

    assert rules.expected_head("a1", Migrations(expected_head="b2"), None) == rules.Expected(
        "a1", "--expected-migration"
    )
    assert rules.expected_head(None, Migrations(expected_head="b2"), None).head == "b2"
    assert rules.expected_head(None, from_version, version).head == "c3"
    missing = rules.expected_head(None, from_version, Evidence({"url": "http://api/version"}, error="refused"))
    assert missing.head is None and "refused" in (missing.problem or "")
    assert rules.expected_head(None, ALEMBIC, None) == rules.Expected(None)


def test_a_lock_wait_over_the_limit_names_both_sessions():
    waits = rows(
        "blocked_pid wait_s blocked_query blocking_pid blocking_state blocking_age_s blocking_query",
        (4242, 12.5, "ALTER TABLE orders ADD COLUMN note text", 4141, "idle in transaction", 30.0, "UPDATE orders ..."),
    )
    answer = evidence(blocked=waits, transactions=rows("pid state age_s state_s query"))
    finding = rules.no_blocking(answer, LIMITS)

    assert finding.outcome is Outcome.FAILED
    assert "pid 4242 has waited 12.5s for a lock held by pid 4141 (idle in transaction for 30s" in finding.message
    assert "ALTER TABLE orders" in finding.message and finding.limit["max_lock_wait_s"] == 5.0


def test_a_transaction_open_too_long_fails_and_a_short_wait_passes():
    short_wait = rows(
        "blocked_pid wait_s blocked_query blocking_pid blocking_state blocking_age_s blocking_query",
        (1, 0.5, "SELECT", 2, "active", 1.0, "UPDATE"),
    )
    old = rows("pid state age_s state_s query", (7, "idle in transaction", 900.0, 899.0, "BEGIN; UPDATE t"))
    assert rules.no_blocking(evidence(blocked=short_wait, transactions=rows("pid")), LIMITS).outcome is Outcome.PASSED
    finding = rules.no_blocking(evidence(blocked=short_wait, transactions=old), LIMITS)
    assert finding.outcome is Outcome.FAILED and "pid 7 has had a transaction open for 900s (idle in transaction" in (
        finding.message
    )


def test_sessions_the_user_cannot_see_leave_no_blocking_inconclusive():
    hidden = rows("pid state age_s state_s query", (7, None, None, None, "<insufficient privilege>"))
    finding = rules.no_blocking(evidence(blocked=rows("blocked_pid"), transactions=hidden), LIMITS)
    assert finding.outcome is Outcome.INCONCLUSIVE and "pg_monitor" in finding.message


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        ((True, 3.0, False), Outcome.PASSED),
        ((True, 45.0, False), Outcome.FAILED),
        ((True, 900.0, True), Outcome.PASSED),
    ],
)
def test_replication_lag_on_a_replica(status, outcome):
    answer = evidence(replica=True, replication=rows("in_recovery replay_age_s caught_up", status))
    assert rules.is_replica(answer)
    assert rules.replication_lag(answer, LIMITS).outcome is outcome


def test_a_rollback_over_a_moved_schema_is_a_warning():
    assert rules.schema_risk("orders", "a1", "a1", "baseline.json") is None
    warning = rules.schema_risk("orders", "a1", "b2", "baseline.json")
    assert warning is not None and "b2, not a1" in warning and "newer schema" in warning


# ---------------------------------------------------------------------------------------------------------------
# the role check: refused, warned about, or neither


def with_role(role: RoleAnswer, **answers: QueryAnswer) -> Evidence:
    return Evidence(SOURCE, DatabaseAnswer(3.0, 0.8, "16.2", False, True, answers, role), elapsed_ms=4.0)


def test_a_refused_role_makes_every_deciding_check_inconclusive_with_the_fix():
    refused = with_role(RoleAnswer({"pg_signal_backend": ["pg_signal_backend"], "rolcreatedb": ["admins"]}))

    reachable = rules.reachable(refused)
    assert reachable.outcome is Outcome.INCONCLUSIVE
    assert "the suite's role can create databases (CREATEDB), through role admins; is a member of " in reachable.message
    assert "pg_signal_backend (can end other sessions)" in reachable.message
    assert "CREATE ROLE deploycheck LOGIN" in reachable.message and "\n" not in reachable.message
    assert reachable.observed["role"]["powers"]["rolcreatedb"] == ["admins"]
    for finding in (
        rules.no_blocking(refused, LIMITS),
        rules.migrations_at_head(refused, Migrations(), rules.Expected("a1")),
        rules.least_privilege(refused),
    ):
        assert finding.outcome is Outcome.INCONCLUSIVE and "too strong" in finding.message


def test_a_superuser_is_named_as_one_not_as_every_role_it_belongs_to():
    superuser = RoleAnswer({"rolsuper": ["itself"], "rolcreaterole": ["itself"], "pg_signal_backend": ["x"]})

    assert superuser.refused == ["is a superuser (runs programs and writes files on the server)"]


def test_a_role_owning_what_it_reads_fails_only_the_advisory_check():
    owner = with_role(RoleAnswer({}, "public", owns_schema=True, owned_tables=("alembic_version",), owned_count=1))

    assert rules.reachable(owner).outcome is Outcome.PASSED
    warning = rules.least_privilege(owner)
    assert warning.outcome is Outcome.FAILED
    assert "owns schema public (may drop any table in it); owns 1 table(s) or view(s) of schema public" in (
        warning.message
    )
    assert warning.observed["owned_tables"] == ["alembic_version"]
    assert rules.least_privilege(with_role(RoleAnswer({}, "public"))).outcome is Outcome.PASSED
