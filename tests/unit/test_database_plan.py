"""Planning the database probe: what the evidence shows of a connection, what it masks, which SQL it runs."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from deploycheck.kinds.database import probes as plan
from deploycheck.kinds.database.config import Database, Migrations
from deploycheck.kinds.database.session import PostgresRequest, describe_failure


def request_for(database: Database) -> PostgresRequest:
    conninfo, where, secrets, problem = plan.connection(database)
    return PostgresRequest(conninfo, where, {}, secrets=secrets, problem=problem)


def test_a_url_dsn_shows_host_port_and_database_only_and_masks_the_decoded_password():
    database = Database.model_validate({"dsn": "postgresql://app:s3cr%40t@db.internal:6432/orders?sslmode=require"})
    request = request_for(database)

    assert request.describe()["host"] == "db.internal" and request.describe()["dbname"] == "orders"
    shown = repr(request) + repr(request.describe())
    assert "s3cr" not in shown and "app" not in shown.replace("application", "")
    assert "s3cr@t" in request.secrets and '"app"' in request.secrets


def test_parts_with_a_password_and_tls_make_one_connection_string():
    database = Database.model_validate(
        {"host": "db", "port": 6432, "dbname": "orders", "user": "reader", "password": "pw-123456",
         "sslmode": "verify-full", "ca_file": "/etc/hosts"}
    )  # fmt: skip
    request = request_for(database)

    assert "sslrootcert=/etc/hosts" in request.conninfo and "password=pw-123456" in request.conninfo
    assert request.describe()["sslmode"] == "verify-full" and "pw-123456" not in repr(request.describe())


def test_a_failure_message_masks_the_user_and_password_and_keeps_what_to_check():
    secrets = ("host=db user=alice password=pw-123456", "pw-123456", '"alice"')
    text = 'connection failed: connection to server at "10.0.0.5", port 5432 failed: FATAL:  password authentication'
    message = describe_failure(Exception(text + ' failed for user "alice"'), secrets)
    assert message == "authentication failed: password authentication failed for user ***"


@pytest.mark.parametrize(
    ("tool", "words"),
    [
        ("alembic", 'SELECT version_num FROM "alembic_version"'),
        ("flyway", 'FROM "flyway_schema_history" WHERE NOT success'),
        ("django", 'SELECT app, name FROM "django_migrations" ORDER BY id'),
        ("rails", 'SELECT version FROM "schema_migrations"'),
    ],
)
def test_each_tool_reads_its_own_table(tool, words):
    assert words in " ".join(plan.migration_queries(Migrations(tool=tool)).values())


def test_a_schema_qualified_table_is_quoted_and_anything_else_refused():
    assert '"ops"."Alembic_Version"' in plan.migration_queries(Migrations(table="ops.Alembic_Version"))["migrations"]
    with pytest.raises(ValidationError, match="must be a table name"):
        Migrations(table="alembic_version; DROP TABLE orders")
