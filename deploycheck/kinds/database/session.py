"""PostgreSQL evidence: one read-only session per request, with psycopg 3's async connections.

`PostgresSession.fetch` turns a `PostgresRequest` into `Evidence` and never raises (except on cancellation). It
connects and, before anything else, reads what the session's role could do (`postgres_role`): a role that could act
outside the read-only transaction (a superuser, a member of pg_signal_backend, ...) is refused, and its session asks
nothing more. Otherwise it notes what the role owns of the schema the suite reads, times a trivial query (the round
trip), notes the server's version, whether it is a replica and whether the transaction is read-only, then runs the
request's named queries, each in a savepoint of its own, so one missing table or denied permission spoils only its
own answer. The value is a `DatabaseAnswer`.

The session can never write:
- the server is told at connection time `default_transaction_read_only=on` (with `statement_timeout`,
  `lock_timeout` and `idle_in_transaction_session_timeout`), and the application name is `deploycheck`;
- the work runs in a transaction begun READ ONLY, whose snapshot is taken by the first query, and every query
  runs in a savepoint inside it (where `SET TRANSACTION READ WRITE` is refused);
- every query is sent with the extended protocol (one statement only: `COMMIT; INSERT ...` is refused).

What goes wrong before any answer is one line, `<kind>: <detail>`, with the password, the DSN and the user masked:

    cannot connect: <why>             refused, unknown host, network unreachable, TLS
    no answer within <t>s             the connection or the whole session took longer than its deadline
    authentication failed: <why>      the server rejected the user or the password
    no such database: <why>           the database named does not exist
    permission denied: <why>          the user may not connect to that database
    the server refused the session: <why>   too many connections, starting up, shutting down, ...
    not a usable connection string     the configured DSN could not be parsed (it is never quoted)
"""

from __future__ import annotations

import asyncio
import datetime
import decimal
import math
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

from deploycheck.evidence.base import Evidence
from deploycheck.kinds.database.role import RoleAnswer, read_ownership, read_powers

if TYPE_CHECKING:
    import psycopg

# psycopg is imported where a database is planned or asked (about 80 ms that a run without databases never pays).

MASK = "***"
APPLICATION_NAME = "deploycheck"
MAX_IN_FLIGHT = 64  # sessions open at once per run: well under a server's default max_connections of 100
MAX_ROWS = 1000  # of one query's answer, kept as evidence
MAX_TEXT = 500  # characters of one text value kept
MAX_ERROR_CHARS = 300
FIXED_QUERIES = 4  # the suite's own, before the request's: the role, the server's settings, ownership, SELECT 1

# Words of libpq's and the server's messages, and the kind of failure they mean.
_KINDS = (
    ("authentication failed", re.compile(r"password authentication failed|authentication failed|no password "
                                         r"supplied|pg_hba\.conf|password is required", re.I)),
    ("no such database", re.compile(r"database \".*\" does not exist", re.I)),
    ("permission denied", re.compile(r"permission denied|not permitted to log in", re.I)),
    ("the server refused the session", re.compile(r"too many|starting up|shutting down|recovery mode|remaining "
                                                  r"connection slots|terminating connection", re.I)),
)  # fmt: skip
_PREFIXES = re.compile(r'^(connection failed: )?(connection to server (at|on) "[^"]*"( \([^)]*\))?(, port \d+)? '
                       r'failed: )?(FATAL: +)?', re.I)  # fmt: skip


@dataclass(frozen=True, repr=False)
class PostgresRequest:
    """Connect with `conninfo` (a secret: never shown) and run `queries` (name -> SQL) read-only."""

    conninfo: str
    where: Mapping[str, Any]  # host, port, dbname, sslmode: what the evidence shows of the connection
    queries: Mapping[str, str] = field(default_factory=dict)
    connect_timeout_s: float = 5.0
    statement_timeout_s: float = 5.0
    secrets: tuple[str, ...] = ()  # masked in every message: password, DSN, user
    problem: str | None = None  # known before connecting: why no session can be opened
    schema: str | None = None  # the schema the suite reads (whose tables the role should not own); None: current

    @property
    def timeout_s(self) -> float:
        """The longest a fetch can take: the connection, then each query, each bounded by the server too."""
        return self.connect_timeout_s + self.statement_timeout_s * (len(self.queries) + FIXED_QUERIES)

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "postgres",
            **self.where,
            "read_only": True,
            "connect_timeout_s": self.connect_timeout_s,
            "statement_timeout_s": self.statement_timeout_s,
            "role_check": {"before_any_query": True, "schema": self.schema or "the session's current schema"},
            "queries": dict(self.queries),
        }

    def __repr__(self) -> str:
        # pytest -l prints locals: the DSN and password must not show.
        return (
            f"PostgresRequest({', '.join(f'{k}={v!r}' for k, v in self.where.items())}, queries={list(self.queries)})"
        )


@dataclass(frozen=True)
class QueryAnswer:
    sql: str
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[Any, ...], ...] = ()  # plain values (str, int, float, bool, None), at most MAX_ROWS
    error: str | None = None  # one line, masked
    sqlstate: str | None = None  # e.g. 42P01 undefined table, 42501 insufficient privilege, 57014 timeout
    elapsed_ms: float = 0.0

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


@dataclass(frozen=True)
class DatabaseAnswer:
    connect_ms: float
    round_trip_ms: float  # of `SELECT 1`, once connected
    server_version: str
    in_recovery: bool  # a replica (hot standby)
    read_only: bool  # the server's own word: transaction_read_only inside the session's transaction
    answers: Mapping[str, QueryAnswer] = field(default_factory=dict)  # empty when the role was refused
    role: RoleAnswer | None = None  # what the session's role could do; None only for answers made by hand

    @property
    def refused(self) -> list[str]:
        """Why the session's role was refused (nothing was asked after it), or []."""
        return self.role.refused if self.role is not None else []


class PostgresSession:
    """Opens one connection per request, never more than MAX_IN_FLIGHT at once."""

    def __init__(self) -> None:
        self._in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)

    async def __aenter__(self) -> PostgresSession:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        return None

    async def fetch(self, request: PostgresRequest) -> Evidence:
        source = request.describe()
        if request.problem is not None:
            return Evidence(source, error=request.problem)
        import psycopg

        started = time.perf_counter()
        async with self._in_flight:
            try:
                async with asyncio.timeout(request.timeout_s):
                    value = await _session(request)
            except TimeoutError:
                error = f"no answer within {request.timeout_s:g}s (connect and queries)"
                return Evidence(source, error=error, elapsed_ms=_ms(started))
            except _ConnectTimeout:
                error = f"no answer within {request.connect_timeout_s:g}s: the connection did not complete"
                return Evidence(source, error=error, elapsed_ms=_ms(started))
            except (psycopg.Error, OSError) as failure:
                return Evidence(source, error=describe_failure(failure, request.secrets), elapsed_ms=_ms(started))
        return Evidence(source, value, elapsed_ms=_ms(started))


class _ConnectTimeout(Exception):
    pass


async def _session(request: PostgresRequest) -> DatabaseAnswer:
    import psycopg

    started = time.perf_counter()
    statement_ms = max(int(request.statement_timeout_s * 1000), 1)
    options = " ".join(
        f"-c {name}={value}"
        for name, value in (
            ("default_transaction_read_only", "on"),
            ("statement_timeout", statement_ms),
            ("lock_timeout", statement_ms),
            ("idle_in_transaction_session_timeout", statement_ms * 4),
        )
    )
    try:
        async with asyncio.timeout(request.connect_timeout_s):
            connection = await psycopg.AsyncConnection.connect(
                request.conninfo,
                options=options,
                application_name=APPLICATION_NAME,
                connect_timeout=max(2, math.ceil(request.connect_timeout_s)),  # libpq's least
            )
    except TimeoutError:
        raise _ConnectTimeout from None
    try:
        connect_ms = _ms(started)
        await connection.set_read_only(True)  # BEGIN READ ONLY
        async with connection.transaction():
            role = await read_powers(connection)  # first: a role that could act outside the transaction asks nothing
            cursor = await connection.execute(
                "SELECT current_setting('server_version'), pg_is_in_recovery(), "
                "current_setting('transaction_read_only')",
                binary=True,
            )
            version, in_recovery, read_only = await cursor.fetchone() or ("", False, "off")
            server = (str(version), bool(in_recovery), read_only == "on")
            if role.refused:
                return DatabaseAnswer(connect_ms, 0.0, *server, role=role)
            role = await read_ownership(connection, role, request.schema)
            ping = time.perf_counter()
            await connection.execute("SELECT 1", binary=True)
            round_trip = _ms(ping)
            answers = {name: await _query(connection, sql, request.secrets) for name, sql in request.queries.items()}
    finally:
        await connection.close()
    return DatabaseAnswer(connect_ms, round_trip, *server, answers, role)


async def _query(connection: psycopg.AsyncConnection[Any], sql: str, secrets: tuple[str, ...]) -> QueryAnswer:
    import psycopg

    started = time.perf_counter()
    try:
        async with connection.transaction():  # a savepoint: an error spoils this answer only
            cursor = connection.cursor()
            # binary=True sends the extended protocol even without parameters: one statement, never "COMMIT; ..."
            await cursor.execute(sql, binary=True)
            if cursor.description is None:
                return QueryAnswer(sql, elapsed_ms=_ms(started))
            columns = tuple(column.name for column in cursor.description)
            rows = await cursor.fetchmany(MAX_ROWS)
    except psycopg.Error as error:
        message = mask(_first_line(str(error)), secrets)
        return QueryAnswer(sql, error=message, sqlstate=error.sqlstate, elapsed_ms=_ms(started))
    plain = tuple(tuple(_plain(value) for value in row) for row in rows)
    return QueryAnswer(sql, columns, plain, elapsed_ms=_ms(started))


def describe_failure(failure: BaseException, secrets: tuple[str, ...]) -> str:
    """`<kind>: <detail>` for a connection that failed, with the secrets masked."""
    import psycopg

    text = _PREFIXES.sub("", _first_line(str(failure)))
    text = re.sub(r"\s+Is the server running.*", "", text, flags=re.I)
    kind = next((name for name, words in _KINDS if words.search(text)), "cannot connect")
    if isinstance(failure, psycopg.Error) and failure.sqlstate == "42501":
        kind = "permission denied"
    return f"{kind}: {mask(text, secrets)[:MAX_ERROR_CHARS]}"


def mask(text: str, secrets: tuple[str, ...]) -> str:
    """The text with every secret (longest first, so a DSN goes before the password inside it) masked."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def where_of(conninfo: str) -> dict[str, Any]:
    """host, port, dbname, sslmode of a connection string (never its user nor password); raises ValueError."""
    import psycopg
    from psycopg import conninfo as libpq

    try:
        parts = libpq.conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError:
        raise ValueError("not a usable connection string") from None
    return {key: str(parts[key]) for key in ("host", "port", "dbname", "sslmode") if parts.get(key) is not None}


def _first_line(text: str) -> str:
    return " ".join(text.split("\n", 1)[0].split())


def _plain(value: Any) -> Any:
    """A value as evidence: JSON-friendly and bounded."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)[:MAX_TEXT].decode("utf-8", errors="replace")
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value[:MAX_ROWS]]
    return str(value)[:MAX_TEXT]


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
