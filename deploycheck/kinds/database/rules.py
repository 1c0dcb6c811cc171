"""Judgement of the database evidence: reachable, migrations at the expected head, nothing blocked, replica lag.

Pure functions: a `database` Evidence (a `DatabaseAnswer`, or why there is none) and the service's `database`
section in, a Finding out. A connection that failed fails `database.reachable` when the server could not be reached
or refused the session, and makes it inconclusive when the suite's own access is wrong (credentials, database
name, permission, or a role so strong that the suite refused to ask it anything); the other checks are then
inconclusive, each saying so. Never a pass without evidence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from deploycheck.evidence.base import Evidence
from deploycheck.findings import Finding, Outcome
from deploycheck.kinds.database.config import Database, Migrations
from deploycheck.kinds.database.session import DatabaseAnswer, QueryAnswer
from deploycheck.text import cut

QUOTE_CHARS = 60  # of a session's query, quoted in a message

# What to check, by the kind of connection failure (see deploycheck.kinds.database.session).
_FAILURE_HINTS = {
    "cannot connect": (Outcome.FAILED, "check that the database is up and that its host and port are right"),
    "no answer within": (Outcome.FAILED, "check the server's load and the network path, or raise connect_timeout"),
    "the server refused the session": (Outcome.FAILED, "check the server: max_connections, recovery, shutdown"),
    "authentication failed": (Outcome.INCONCLUSIVE, "check the user and password the configuration gives the suite"),
    "no such database": (Outcome.INCONCLUSIVE, "check the database name (`dbname`, or the DSN's)"),
    "permission denied": (Outcome.INCONCLUSIVE, "grant the suite's user CONNECT on the database"),
    "not a usable connection string": (Outcome.INCONCLUSIVE, "fix the `dsn` of `database`"),
    "the custom migrations `query` is refused": (Outcome.INCONCLUSIVE, "give one read-only query (docs/database.md)"),
}
# The one-line fix for a role that is too strong (or merely stronger than the checks need).
ROLE_FIX = (
    'log in as a role made for the suite (docs/database.md, "A role for the suite": CREATE ROLE deploycheck LOGIN; '
    "GRANT CONNECT on the database, SELECT on the migrations table, pg_read_all_stats)"
)
_READ_ALL = "the suite's user cannot see other users' sessions: grant it pg_read_all_stats (or pg_monitor)"


@dataclass(frozen=True)
class Expected:
    """The head the deployed version expects, and where that came from."""

    head: str | None
    origin: str = ""
    problem: str | None = None  # a source was configured but gave nothing: inconclusive, never a skip


# ---------------------------------------------------------------------------------------------------------------
# database.reachable


def reachable(evidence: Evidence) -> Finding:
    """Connected, and a trivial query answered, in a read-only session."""
    answer = evidence.value
    if not isinstance(answer, DatabaseAnswer):
        outcome, hint = _failure(evidence)
        return _finding(evidence, outcome, f"{_where(evidence)}: {evidence.error}: {hint}")
    observed = {
        "connect_ms": answer.connect_ms,
        "round_trip_ms": answer.round_trip_ms,
        "server_version": answer.server_version,
        "replica": answer.in_recovery,
        "read_only": answer.read_only,
        "role": answer.role.to_evidence() if answer.role is not None else None,
    }
    if answer.refused:
        message = (
            f"{_where(evidence)}: the suite's role {'; '.join(answer.refused)}: a read-only session does not stop "
            f"that, so nothing was asked; {ROLE_FIX}"
        )
        return _finding(evidence, Outcome.INCONCLUSIVE, message, observed=observed)
    if not answer.read_only:
        message = f"{_where(evidence)}: the session is not read-only, so the suite stops here (nothing was judged)"
        return _finding(evidence, Outcome.INCONCLUSIVE, message, observed=observed)
    role = "replica" if answer.in_recovery else "primary"
    message = (
        f"{_where(evidence)} answered in {answer.round_trip_ms:g} ms (connected in {answer.connect_ms:g} ms; "
        f"PostgreSQL {answer.server_version}, {role}, read-only session)"
    )
    return _finding(evidence, Outcome.PASSED, message, observed=observed, unit="ms")


# ---------------------------------------------------------------------------------------------------------------
# database.migrations_at_head


def expected_head(option: str | None, migrations: Migrations, version: Evidence | None) -> Expected:
    """The expected head: --expected-migration, else `migrations.expected_head`, else a field of /version."""
    if option:
        return Expected(option.strip(), "--expected-migration")
    if migrations.expected_head:
        return Expected(migrations.expected_head.strip(), "database.migrations.expected_head")
    if migrations.version_field is None:
        return Expected(None)
    where = f"field {migrations.version_field!r} of the /version answer"
    if version is None or version.value is None:
        reason = version.error if version is not None else "no `version` endpoint configured"
        return Expected(None, where, f"cannot read {where}: {reason}")
    body: Any = version.value.json
    for part in migrations.version_field.split("."):
        body = body.get(part) if isinstance(body, dict) else None
    if body is None or isinstance(body, dict | list) or not str(body).strip():
        return Expected(None, where, f"no {where} ({version.source.get('url', '')})")
    return Expected(str(body).strip(), where)


def applied_head(answer: DatabaseAnswer, migrations: Migrations) -> dict[str, str] | None:
    """The applied head: {"": head} (Alembic's several heads joined by ","), or {app: last migration} for Django;
    None when its query failed."""
    rows = answer.answers.get("migrations")
    if rows is None or rows.error is not None:
        return None
    if migrations.tool == "django":
        last: dict[str, str] = {}
        for record in rows.records():
            last[str(record["app"])] = str(record["name"])  # ordered by id: the last applied wins
        return last
    values = [str(row[0]) for row in rows.rows if row and row[0] is not None]
    if not values:
        return {}
    return {"": ",".join(sorted(values)) if migrations.tool == "alembic" else values[0]}


def head_text(evidence: Evidence, migrations: Migrations) -> str | None:
    """The applied head as one line (Django: app=name pairs), for the baseline file; None when unknown."""
    answer = _usable(evidence)
    if answer is None:
        return None
    applied = applied_head(answer, migrations)
    return _show(applied) if applied else None


def schema_risk(service: str, before: str, now: str | None, recorded_in: str) -> str | None:
    """The verdict's warning when a rollback would put the previous code on a schema newer than it knew."""
    if now is None:
        return f"{service}: cannot compare the schema head with the one recorded before the deploy ({before})"
    if now == before:
        return None
    return (
        f"{service}: the schema head is {now}, not {before} as recorded before the deploy ({recorded_in}): rolling "
        "back the code over a newer schema is the risk the deployment guide names; make sure the previous version "
        "runs on this schema (migrations must stay backward compatible) before rolling back"
    )


def migrations_at_head(evidence: Evidence, migrations: Migrations, expected: Expected) -> Finding:
    """The applied head equals the expected one; a failed Flyway migration fails whatever the head."""
    table = migrations.version_table or "the custom query"
    answer = _usable(evidence)
    if answer is None:
        return _no_evidence(evidence)
    limit = {"head": expected.head, "from": expected.origin} if expected.head else None
    rows = answer.answers["migrations"]
    if rows.error is not None:
        outcome, message = _query_failure(rows, table, "migrations")
        return _finding(evidence, outcome, f"{_where(evidence)}: {message}", limit=limit)
    failed = answer.answers.get("failed_migrations")
    if failed is not None and failed.error is None and failed.rows:
        listed = "; ".join(
            f"version {r['version']} ({r['description']}, rank {r['installed_rank']})" for r in failed.records()
        )
        message = f"{table} has {len(failed.rows)} failed migration(s): {listed}: repair them (flyway repair) first"
        return _finding(evidence, Outcome.FAILED, message, observed={"failed": failed.records()}, limit=limit)
    applied = applied_head(answer, migrations) or {}
    observed: Any = applied.get("") if migrations.tool != "django" else applied
    if expected.problem is not None:
        message = f"applied head {_show(applied)}; {expected.problem}: the expected head is unknown"
        return _finding(evidence, Outcome.INCONCLUSIVE, message, observed=observed)
    if expected.head is None:
        message = (
            f"applied head {_show(applied)} ({table}); no expected head given (--expected-migration, "
            "database.migrations.expected_head or database.migrations.version_field): not judged"
        )
        return _finding(evidence, Outcome.SKIPPED, message, observed=observed)
    if migrations.tool == "django" and not all(_app_migration(item)[0] for item in expected.head.split(",")):
        message = (
            f"the expected head {expected.head!r} (from {expected.origin}) is not a list of app=migration pairs, "
            "as Django's needs (e.g. orders=0003_add_index,auth=0012_alter_user)"
        )
        return _finding(evidence, Outcome.INCONCLUSIVE, message, observed=observed, limit=limit)
    wrong = _differences(migrations, applied, expected.head, answer.answers["migrations"])
    if wrong:
        message = (
            f"{table}: {'; '.join(wrong)} (expected from {expected.origin}): the schema is not at the expected head"
        )
        return _finding(evidence, Outcome.FAILED, message, observed=observed, limit=limit)
    message = f"{table} is at the expected head {expected.head} (from {expected.origin})"
    return _finding(evidence, Outcome.PASSED, message, observed=observed, limit=limit)


def _differences(migrations: Migrations, applied: dict[str, str], expected: str, rows: QueryAnswer) -> list[str]:
    if migrations.tool == "django":
        wanted = dict(_app_migration(item) for item in expected.split(",") if item.strip())
        done = {(str(r["app"]), str(r["name"])) for r in rows.records()}
        wrong = []
        for app, name in wanted.items():
            head = applied.get(app)
            if (app, name) not in done:
                wrong.append(f"{app}: {name} is not applied (applied head {head or 'none'})")
            elif head != name:
                wrong.append(f"{app}: applied head {head}, newer than the expected {name}")
        return wrong
    head = applied.get("")
    if head is None:
        return [f"no migration applied, expected head {expected}"]
    if migrations.tool == "alembic":
        same = set(head.split(",")) == {part.strip() for part in expected.split(",") if part.strip()}
    elif migrations.tool == "flyway":
        same = _flyway_version(head) == _flyway_version(expected)
    else:
        same = head.strip() == expected.strip()
    return [] if same else [f"applied head {head}, expected {expected}"]


def _app_migration(item: str) -> tuple[str, str]:
    """`orders=0003_add_index` (or `orders:0003_add_index`) -> ("orders", "0003_add_index")."""
    app, _, name = re.split(r"([=:])", item.strip(), maxsplit=1) if re.search("[=:]", item) else ("", "", item)
    return app.strip(), name.strip()


def _flyway_version(text: str) -> tuple[Any, ...]:
    """Flyway's versions: 1.2 == 1_2 == V1.2, and 1.10 is after 1.9."""
    parts = re.split(r"[._]", text.strip().lstrip("Vv"))
    return tuple(int(part) if part.isdigit() else part for part in parts)


def _show(applied: dict[str, str]) -> str:
    if not applied:
        return "none (the table is empty)"
    if list(applied) == [""]:
        return applied[""]
    return ", ".join(f"{app}={name}" for app, name in applied.items())


# ---------------------------------------------------------------------------------------------------------------
# database.no_blocking


def no_blocking(evidence: Evidence, database: Database) -> Finding:
    """No session waits on a lock longer than max_lock_wait; no transaction older than max_transaction_age."""
    answer = _usable(evidence)
    if answer is None:
        return _no_evidence(evidence)
    limit = {"max_lock_wait_s": database.max_lock_wait, "max_transaction_age_s": database.max_transaction_age}
    for name in ("blocked", "transactions"):
        rows = answer.answers[name]
        if rows.error is not None:
            _, message = _query_failure(rows, "pg_stat_activity", name)
            return _finding(evidence, Outcome.INCONCLUSIVE, f"{_where(evidence)}: {message}", limit=limit)
    waits = answer.answers["blocked"].records()
    transactions = answer.answers["transactions"].records()
    observed = {
        "longest_lock_wait_s": max((w["wait_s"] or 0.0 for w in waits), default=0.0),
        "oldest_transaction_s": max((t["age_s"] or 0.0 for t in transactions), default=0.0),
        "lock_waits": waits,
        "transactions": transactions,
    }
    broken = [_wait_text(w) for w in waits if (w["wait_s"] or 0.0) > database.max_lock_wait]
    broken += [_transaction_text(t) for t in transactions if (t["age_s"] or 0.0) > database.max_transaction_age]
    if broken:
        message = "; ".join(broken)
        return _finding(evidence, Outcome.FAILED, message, observed=observed, limit=limit, unit="s")
    hidden = [t for t in transactions if t["query"] == "<insufficient privilege>"]
    if hidden or any(w["blocking_query"] == "<insufficient privilege>" for w in waits):
        return _finding(evidence, Outcome.INCONCLUSIVE, _READ_ALL, observed=observed, limit=limit, unit="s")
    message = (
        f"no lock wait over {database.max_lock_wait:g}s (longest {observed['longest_lock_wait_s']:g}s), no "
        f"transaction older than {database.max_transaction_age:g}s (oldest {observed['oldest_transaction_s']:g}s)"
    )
    return _finding(evidence, Outcome.PASSED, message, observed=observed, limit=limit, unit="s")


def _wait_text(wait: dict[str, Any]) -> str:
    return (
        f"pid {wait['blocked_pid']} has waited {wait['wait_s']:g}s for a lock held by pid {wait['blocking_pid']} "
        f"({wait['blocking_state']} for {wait['blocking_age_s']:g}s: {_quote(wait['blocking_query'])}); "
        f"it waits to run {_quote(wait['blocked_query'])}"
    )


def _transaction_text(transaction: dict[str, Any]) -> str:
    return (
        f"pid {transaction['pid']} has had a transaction open for {transaction['age_s']:g}s "
        f"({transaction['state']}: {_quote(transaction['query'])})"
    )


def _quote(query: Any) -> str:
    return repr(cut(" ".join(str(query or "").split()), QUOTE_CHARS))


# ---------------------------------------------------------------------------------------------------------------
# database.replication_lag


def is_replica(evidence: Evidence) -> bool:
    return isinstance(evidence.value, DatabaseAnswer) and evidence.value.in_recovery


def replication_lag(evidence: Evidence, database: Database) -> Finding:
    """On a replica: the time since the last replayed transaction, unless everything received is replayed."""
    answer = _usable(evidence)
    if answer is None:
        return _no_evidence(evidence)
    rows = answer.answers["replication"]
    if rows.error is not None:
        _, message = _query_failure(rows, "the replica's status", "replication")
        return _finding(evidence, Outcome.INCONCLUSIVE, f"{_where(evidence)}: {message}")
    status = rows.records()[0]
    limit = database.max_replication_lag
    if status["caught_up"]:
        lag = 0.0
    elif status["replay_age_s"] is None:
        message = f"{_where(evidence)}: the replica has not replayed any transaction yet: is it streaming?"
        return _finding(evidence, Outcome.INCONCLUSIVE, message, limit=limit, unit="s")
    else:
        lag = float(status["replay_age_s"])
    outcome = Outcome.PASSED if lag <= limit else Outcome.FAILED
    relation = "within" if outcome is Outcome.PASSED else "over"
    message = f"replica lag {lag:g}s, {relation} the limit of {limit:g}s"
    return _finding(evidence, outcome, message, observed=lag, limit=limit, unit="s")


# ---------------------------------------------------------------------------------------------------------------
# database.least_privilege (advisory)


def least_privilege(evidence: Evidence) -> Finding:
    """The suite's role holds nothing beyond reading: it owns none of the tables (nor the schema) it reads, is no
    member of pg_write_all_data and does not bypass row-level security. Advisory: the suite's read-only session
    stops all of these itself; the same credential used anywhere else would not. (A refused role: see reachable.)"""
    answer = _usable(evidence)
    if answer is None or answer.role is None:
        return _no_evidence(evidence)
    role = answer.role
    observed = role.to_evidence()
    where = f"schema {role.schema}" if role.schema else "the schema it reads"
    if role.warnings:
        message = (
            f"{_where(evidence)}: the suite's role {'; '.join(role.warnings)}: more than the checks need (the "
            f"read-only session stops it here, not wherever else this credential is used); {ROLE_FIX}"
        )
        return _finding(evidence, Outcome.FAILED, message, observed=observed)
    message = f"{_where(evidence)}: the suite's role owns nothing in {where} and holds no power beyond reading"
    return _finding(evidence, Outcome.PASSED, message, observed=observed)


# ---------------------------------------------------------------------------------------------------------------
# shared


def _failure(evidence: Evidence) -> tuple[Outcome, str]:
    error = evidence.error or ""
    for kind, (outcome, hint) in _FAILURE_HINTS.items():
        if error.startswith(kind):
            return outcome, hint
    return Outcome.FAILED, "check the database and the suite's access to it"


def _no_evidence(evidence: Evidence) -> Finding:
    answer = evidence.value
    why = "the suite's role is too strong, so nothing was asked" if isinstance(answer, DatabaseAnswer) else None
    message = f"no database evidence ({_where(evidence)}: {why or evidence.error}): see database.reachable"
    return _finding(evidence, Outcome.INCONCLUSIVE, message)


def _usable(evidence: Evidence) -> DatabaseAnswer | None:
    """The answer, when there is one whose role was not refused."""
    answer = evidence.value
    return answer if isinstance(answer, DatabaseAnswer) and not answer.refused else None


def _query_failure(rows: QueryAnswer, table: str, name: str) -> tuple[Outcome, str]:
    """A query that failed: a missing migrations table is the service's (migrations never ran there); a denied
    permission or a timeout leaves the question open."""
    if rows.sqlstate == "42P01":
        if name == "migrations":
            why = f"{table} does not exist: did the migrations run against this database? (check `table` and `tool`)"
            return Outcome.FAILED, why
        return Outcome.INCONCLUSIVE, f"{rows.error}"
    if rows.sqlstate == "42501":
        return Outcome.INCONCLUSIVE, f"permission denied reading {table}: grant the suite's user SELECT on it"
    if rows.sqlstate in ("57014", "55P03"):
        return Outcome.INCONCLUSIVE, f"reading {table} timed out ({rows.error}): a migration may hold a lock on it"
    return Outcome.INCONCLUSIVE, f"reading {table} failed: {rows.error}"


def _where(evidence: Evidence) -> str:
    source = evidence.source
    return f"postgres {source.get('host', 'default host')}:{source.get('port', 5432)}/{source.get('dbname', '')}"


def _finding(evidence: Evidence, outcome: Outcome, message: str, **values: Any) -> Finding:
    source = {**evidence.source, "attempts": evidence.attempts}
    return Finding(outcome, message, source=source, duration_ms=evidence.elapsed_ms, samples=1, **values)
