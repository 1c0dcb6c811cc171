"""The database probe: one read-only session per service, planned from its `database` section.

The `database` probe (kind `postgres`) asks, in one session: the round trip (always), the applied migrations of the
configured tool, who waits on whose lock, the oldest open transactions, and the replica's lag. Each answer, its
SQL and its timing are the evidence; `rules.py` judges them. The connection string is a secret: the evidence
shows host, port, database and sslmode only.
"""

from __future__ import annotations

from typing import Any

from deploycheck.config.loader import Environment, Service
from deploycheck.evidence.probe import GatherSettings, Probe
from deploycheck.evidence.registry import register, register_session
from deploycheck.kinds.database import read_only_sql
from deploycheck.kinds.database.config import Database, Migrations
from deploycheck.kinds.database.session import APPLICATION_NAME, PostgresRequest, PostgresSession, where_of

QUERY_CHARS = 200  # of a session's query, kept in the evidence
SESSIONS_SHOWN = 20  # blocked pairs and oldest transactions, each

# Who waits on a lock and who holds it, in this database. pg_locks.waitstart (PostgreSQL 14+) is read through
# to_jsonb so the query also runs on older servers (where the statement's start stands in for it).
BLOCKED_SQL = f"""
SELECT waiting.pid AS blocked_pid,
       round(extract(epoch FROM now() - coalesce(
           (SELECT min((to_jsonb(l) ->> 'waitstart')::timestamptz) FROM pg_locks l
             WHERE l.pid = waiting.pid AND NOT l.granted),
           waiting.query_start))::numeric, 3)::float8 AS wait_s,
       left(waiting.query, {QUERY_CHARS}) AS blocked_query,
       holder.pid AS blocking_pid,
       holder.state AS blocking_state,
       round(extract(epoch FROM now() - coalesce(holder.xact_start, holder.query_start))::numeric, 3)::float8
           AS blocking_age_s,
       left(holder.query, {QUERY_CHARS}) AS blocking_query
  FROM pg_stat_activity waiting
  CROSS JOIN LATERAL unnest(pg_blocking_pids(waiting.pid)) AS blocker(pid)
  JOIN pg_stat_activity holder ON holder.pid = blocker.pid
 WHERE waiting.datname = current_database()
 ORDER BY wait_s DESC
 LIMIT {SESSIONS_SHOWN}
""".strip()

# The oldest transactions of other client sessions in this database (the suite's own sessions left out).
TRANSACTIONS_SQL = f"""
SELECT pid, state,
       round(extract(epoch FROM now() - xact_start)::numeric, 3)::float8 AS age_s,
       round(extract(epoch FROM now() - state_change)::numeric, 3)::float8 AS state_s,
       left(query, {QUERY_CHARS}) AS query
  FROM pg_stat_activity
 WHERE datname = current_database() AND xact_start IS NOT NULL AND pid <> pg_backend_pid()
   AND backend_type = 'client backend' AND application_name <> '{APPLICATION_NAME}'
 ORDER BY xact_start
 LIMIT {SESSIONS_SHOWN}
""".strip()

# On a replica: seconds since the last replayed transaction, and whether everything received is replayed (then an
# idle primary is not lag).
REPLICATION_SQL = """
SELECT pg_is_in_recovery() AS in_recovery,
       round(extract(epoch FROM now() - pg_last_xact_replay_timestamp())::numeric, 3)::float8 AS replay_age_s,
       pg_last_wal_receive_lsn() IS NOT NULL
           AND pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() AS caught_up
""".strip()


def migration_queries(migrations: Migrations) -> dict[str, str]:
    """The SQL that reads the applied migrations of the configured tool (names: migrations, failed_migrations)."""
    table = quoted(migrations.version_table or "")
    if migrations.tool == "alembic":
        return {"migrations": f"SELECT version_num FROM {table} ORDER BY version_num"}
    if migrations.tool == "flyway":
        return {
            "migrations": f"SELECT version, description, installed_rank FROM {table} "
            "WHERE success AND version IS NOT NULL ORDER BY installed_rank DESC LIMIT 1",
            "failed_migrations": f"SELECT version, description, installed_rank, script FROM {table} "
            f"WHERE NOT success ORDER BY installed_rank LIMIT {SESSIONS_SHOWN}",
        }
    if migrations.tool == "django":
        return {"migrations": f"SELECT app, name FROM {table} ORDER BY id"}
    if migrations.tool == "rails":
        return {"migrations": f"SELECT version FROM {table} ORDER BY length(version) DESC, version DESC LIMIT 1"}
    assert migrations.query is not None  # the model requires it for `sql`, and one read-only query
    return {"migrations": read_only_sql.as_subquery(migrations.query)}


def quoted(table: str) -> str:
    """ "schema"."table": the configuration allows only plain names, quoted so that case is kept."""
    return ".".join(f'"{part}"' for part in table.split("."))


def connection(database: Database) -> tuple[str, dict[str, Any], tuple[str, ...], str | None]:
    """The connection string (secret), what the evidence may show of it, the secrets to mask, and any problem."""
    secrets: list[str] = []
    parts: dict[str, Any] = {}
    base = ""
    if database.dsn is not None:
        base = database.dsn.reveal()
        secrets.append(base)
    if database.password is not None:
        secrets.append(database.password.reveal())
        parts["password"] = database.password.reveal()
    parts.update({key: getattr(database, key) for key in ("host", "dbname", "user") if getattr(database, key)})
    if database.dsn is None:
        parts["port"] = database.port
    if database.sslmode is not None:
        parts["sslmode"] = database.sslmode
    if database.ca_file is not None:
        parts["sslrootcert"] = str(database.ca_file)
    import psycopg  # here: only a run that asks a database pays for it
    from psycopg import conninfo as libpq

    try:
        conninfo = libpq.make_conninfo(base, **parts)
        where = where_of(conninfo)
        parsed = libpq.conninfo_to_dict(conninfo)
    except (ValueError, psycopg.ProgrammingError):  # a malformed DSN: never quote it
        return "", {}, tuple(secrets), "not a usable connection string: check the `dsn` of `database`"
    if parsed.get("password"):
        secrets.append(str(parsed["password"]))  # as decoded from a URL DSN (s3cr%40t -> s3cr@t)
    user = parsed.get("user")
    if user:
        secrets.append(f'"{user}"')  # as libpq quotes it ("for user ..."): never a bare word, which could be anywhere
    return conninfo, where, tuple(secrets), None


def plan_database(environment: Environment, service: Service | None, settings: GatherSettings) -> Any:
    if service is None or service.database is None:
        return None
    database = service.database
    conninfo, where, secrets, problem = connection(database)
    migrations = database.migrations
    if migrations is not None and migrations.query is not None and problem is None:
        why = read_only_sql.problem_with(migrations.query)  # the model refused it at load; again, where it is sent
        problem = f"the custom migrations `query` is refused: {why}" if why else None
    queries = migration_queries(migrations) if migrations is not None else {}
    queries.update(blocked=BLOCKED_SQL, transactions=TRANSACTIONS_SQL, replication=REPLICATION_SQL)
    return PostgresRequest(
        conninfo,
        where,
        queries,
        connect_timeout_s=database.connect_timeout,
        statement_timeout_s=database.statement_timeout,
        secrets=secrets,
        problem=problem,
        schema=read_schema(migrations),
    )


def read_schema(migrations: Migrations | None) -> str | None:
    """The schema whose tables the suite reads: the migrations table's, when it names one; else the session's."""
    table = migrations.version_table if migrations is not None and migrations.tool != "sql" else None
    return table.split(".", 1)[0] if table and "." in table else None


register_session("postgres", PostgresSession)
register(Probe("database", "postgres", "database", plan_database))
