"""The role check of the postgres probe against a real PostgreSQL: a role that could act outside a read-only
session (run a program, end a session, mint roles, hold WAL) is refused before its first query, whichever way it
holds the power; the recommended role is not; a role that owns what it reads is only warned about."""

from __future__ import annotations

import asyncio
import uuid

import psycopg
import pytest
from psycopg import sql

from deploycheck.evidence.base import Evidence
from deploycheck.kinds.database.session import DatabaseAnswer, PostgresRequest, PostgresSession, where_of

pytest_plugins = ["tests.postgres_server"]

PASSWORD = "R0le-Secret-pw"
DBNAME = "role_db"


@pytest.fixture(scope="module")
def cluster(postgres):
    postgres.create_database(DBNAME, script="CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);")
    return postgres


@pytest.fixture
def role(cluster):
    """make(*options, member_of=()) -> the DSN of a fresh login role with those attributes and memberships."""
    made: list[str] = []

    def make(*options: str, member_of: tuple[str, ...] = ()) -> str:
        name = f"role_{uuid.uuid4().hex[:8]}"
        made.append(name)
        with cluster.admin() as connection:
            statement = sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} " + " ".join(options))
            connection.execute(statement.format(sql.Identifier(name), sql.Literal(PASSWORD)))
            for parent in member_of:
                connection.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(parent), sql.Identifier(name)))
        return cluster.dsn(DBNAME, name, PASSWORD)

    yield make
    with cluster.admin() as connection:
        for name in made:
            connection.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
    with cluster.admin() as connection:
        for name in made:
            connection.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def fetch(conninfo: str, queries: dict[str, str], schema: str | None = None) -> DatabaseAnswer:
    request = PostgresRequest(conninfo, where_of(conninfo), queries, 3.0, 3.0, schema=schema)

    async def run() -> Evidence:
        async with PostgresSession() as session:
            return await session.fetch(request)

    evidence = asyncio.run(run())
    assert isinstance(evidence.value, DatabaseAnswer), evidence.error
    return evidence.value


def test_a_superuser_session_is_refused_before_copy_to_program_runs(cluster):
    planted = cluster.directory / f"planted-{uuid.uuid4().hex[:8]}"  # the server's user may write here
    copy = f"COPY (SELECT 1) TO PROGRAM 'touch {planted}'"

    answer = fetch(cluster.dsn(DBNAME), {"migrations": copy})

    assert answer.refused == ["is a superuser (runs programs and writes files on the server)"]
    assert answer.role is not None and answer.role.powers == {"rolsuper": ["itself"]}  # no other role named
    assert answer.answers == {} and not planted.exists()
    # The same statement in a read-only transaction of the superuser's does run: the role check is what stopped it.
    with psycopg.connect(cluster.dsn(DBNAME), options="-c default_transaction_read_only=on") as connection:
        connection.read_only = True
        connection.execute(copy)
    assert planted.exists()


def test_a_member_of_pg_signal_backend_through_another_role_is_refused_and_ends_no_session(cluster, role):
    with cluster.admin() as connection:
        connection.execute("DROP ROLE IF EXISTS operators")
        connection.execute("CREATE ROLE operators NOINHERIT")
        connection.execute("GRANT pg_signal_backend TO operators")
    dsn = role(member_of=("operators",))  # NOINHERIT in between: SET ROLE still reaches it
    with psycopg.connect(role()) as victim:  # an ordinary session, which pg_signal_backend may end
        pid = victim.info.backend_pid
        answer = fetch(dsn, {"kill": f"SELECT pg_terminate_backend({pid})"})

        assert answer.refused == ["is a member of pg_signal_backend (can end other sessions)"]
        assert answer.answers == {}
        assert victim.execute("SELECT 1").fetchone() == (1,)  # still alive


@pytest.mark.parametrize(
    ("option", "why"),
    [
        ("CREATEROLE", "can create roles (CREATEROLE)"),
        ("CREATEDB", "can create databases (CREATEDB)"),
        ("REPLICATION", "can replicate (REPLICATION: creates replication slots that hold WAL)"),
    ],
)
def test_a_role_that_can_create_roles_databases_or_slots_is_refused(role, option, why):
    answer = fetch(role(option), {"slot": "SELECT pg_create_physical_replication_slot('never')"})

    assert answer.refused == [why] and answer.answers == {}


def test_a_member_of_a_superuser_role_is_refused(role):
    answer = fetch(role(member_of=("postgres",)), {})

    assert answer.refused == ["is a superuser (runs programs and writes files on the server), through role postgres"]


def test_the_recommended_role_is_neither_refused_nor_warned_about(cluster):
    cluster.create_suite_role("suite_reader", PASSWORD, DBNAME, "alembic_version")

    answer = fetch(cluster.dsn(DBNAME, "suite_reader", PASSWORD), {"head": "SELECT count(*) FROM alembic_version"})

    assert answer.refused == [] and answer.role is not None and answer.role.warnings == []
    assert answer.role.schema == "public" and answer.answers["head"].rows == ((0,),)


def test_a_role_that_owns_what_it_reads_is_warned_about_not_refused(cluster, role):
    dsn = role("BYPASSRLS", member_of=("pg_write_all_data",))
    owner = psycopg.conninfo.conninfo_to_dict(dsn)["user"]
    with cluster.admin(DBNAME) as connection:
        connection.execute("CREATE SCHEMA IF NOT EXISTS app")
        connection.execute("CREATE TABLE app.orders (id int)")
        connection.execute(sql.SQL("ALTER TABLE app.orders OWNER TO {}").format(sql.Identifier(owner)))
    try:
        answer = fetch(dsn, {"read": "SELECT count(*) FROM app.orders"}, schema="app")
    finally:
        with cluster.admin(DBNAME) as connection:
            connection.execute("DROP SCHEMA app CASCADE")

    assert answer.refused == [] and answer.answers["read"].rows == ((0,),)
    assert answer.role is not None and answer.role.warnings == [
        "bypasses row-level security (BYPASSRLS)",
        "can write every table (pg_write_all_data)",
        "owns 1 table(s) or view(s) of schema app: orders",
    ]
