"""The database kind's sections: `database` of a service, and its `migrations`."""

from __future__ import annotations

import re
from typing import Literal, Self

from pydantic import Field, model_validator

from deploycheck.config.types import (
    Duration,
    FilePath,
    Port,
    SecretText,
    Section,
    Text,
    Timeout,
)
from deploycheck.kinds.database import read_only_sql

_TABLE_NAME = r"[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?"


MIGRATION_TABLES = {
    "alembic": "alembic_version",
    "flyway": "flyway_schema_history",
    "django": "django_migrations",
    "rails": "schema_migrations",
}


class Migrations(Section):
    """Which schema version the database must be at."""

    tool: Literal["alembic", "flyway", "django", "rails", "sql"] = Field(
        default="alembic", description="migration tool"
    )
    table: Text | None = Field(
        default=None, description="its version table (default: the tool's)", examples=["alembic_version"]
    )
    expected_head: Text | None = Field(
        default=None, description="version that must be applied", examples=["${DB_HEAD}"]
    )
    query: Text | None = Field(default=None, description="SQL giving the current version (tool `sql`)")
    version_field: Text | None = Field(
        default=None,
        description="field of the service's `/version` answer that names the expected head (dots for nested fields)",
        examples=["schema"],
    )

    @model_validator(mode="after")
    def _query_for_sql(self) -> Self:
        if self.tool == "sql" and self.query is None:
            raise ValueError("`tool: sql` needs the `query` that returns the current version")
        problem = read_only_sql.problem_with(self.query) if self.query is not None else None
        if problem is not None:
            raise ValueError(f"`query` must be exactly one read-only query: {problem}")
        if self.table is not None and not re.fullmatch(_TABLE_NAME, self.table):
            raise ValueError(f"`table` must be a table name, or schema.table, not {self.table!r}")
        return self

    @property
    def version_table(self) -> str | None:
        return self.table or MIGRATION_TABLES.get(self.tool)


class Database(Section):
    """The service's database: a DSN, or its parts."""

    dsn: SecretText | None = Field(default=None, description="connection string", examples=["${API_DB_DSN}"])
    host: Text | None = Field(default=None, description="host (instead of `dsn`)", examples=["db.internal"])
    port: Port = Field(default=5432, description="port")
    dbname: Text | None = Field(default=None, description="database name")
    user: Text | None = Field(default=None, description="user")
    password: SecretText | None = Field(default=None, description="password", examples=["${API_DB_PASSWORD}"])
    sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] | None = Field(
        default=None, description="libpq sslmode"
    )
    ca_file: FilePath | None = Field(default=None, description="CA bundle for `verify-ca` / `verify-full`")
    connect_timeout: Timeout = Field(default=5.0, description="connection timeout", examples=["5s"])
    statement_timeout: Timeout = Field(default=5.0, description="per-query timeout", examples=["5s"])
    migrations: Migrations | None = Field(
        default=None, description="schema version check", examples=[{"tool": "alembic"}]
    )
    max_lock_wait: Duration = Field(default=30.0, description="longest a session may wait for a lock", examples=["30s"])
    max_transaction_age: Duration = Field(
        default=300.0, description="longest a transaction may run or sit idle in transaction", examples=["5m"]
    )
    max_replication_lag: Duration = Field(
        default=30.0, description="longest lag of a replica behind its primary", examples=["10s"]
    )

    @model_validator(mode="after")
    def _dsn_or_parts(self) -> Self:
        parts = (self.host, self.dbname, self.user, self.password)
        if self.dsn is not None and any(part is not None for part in parts):
            raise ValueError("give `dsn` or `host`, `dbname`, `user`, `password`, not both")
        return self
