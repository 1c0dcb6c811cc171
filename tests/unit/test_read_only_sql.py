"""A custom migrations query is exactly one read-only query: what is refused at load, and why, and what is sent."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from deploycheck.kinds.database.config import Migrations
from deploycheck.kinds.database.read_only_sql import as_subquery, problem_with


@pytest.mark.parametrize(
    "query",
    [
        "SELECT version FROM app.schema_version ORDER BY applied_at DESC LIMIT 1",
        "SELECT max(version) FROM schema_version;",
        "WITH last AS (SELECT version FROM schema_version) SELECT * FROM last",
        "VALUES ('fixed')",
        "(SELECT 1)",
        "SELECT 'a; DELETE FROM t', $$; COPY$$, \"into\" FROM t -- ; UPDATE",
        "SELECT /* nested /* ; */ DELETE */ 1",
    ],
)
def test_one_query_that_only_reads_is_accepted(query):
    assert problem_with(query) is None
    assert Migrations(tool="sql", query=query).query == query


@pytest.mark.parametrize(
    ("query", "why"),
    [
        ("SELECT 1; SELECT 2", "more than one statement"),
        ("COPY (SELECT 1) TO PROGRAM 'touch /tmp/x'", "it starts with COPY"),
        ("UPDATE schema_version SET version = 1", "it starts with UPDATE"),
        ("WITH gone AS (DELETE FROM t RETURNING *) SELECT * FROM gone", "it holds DELETE"),
        ("SELECT * INTO copy_of FROM t", "it holds INTO"),
        ("SELECT * FROM t FOR UPDATE", "it holds UPDATE"),
        ("SELECT * FROM t FOR KEY SHARE", "it locks rows"),
        ("SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_stat_activity", "pg_terminate_backend"),
        ('SELECT "pg_cancel_backend"(1)', "pg_cancel_backend"),
        ("SELECT set_config('statement_timeout', '0', false)", "set_config"),
        ("SELECT lo_export(1, '/etc/passwd')", "lo_export"),
        ("SELECT 'never closed", "never closed"),
        ("SELECT $body$ never closed", "never closed"),
        ("-- only a comment", "it starts with nothing"),
    ],
)
def test_anything_else_is_refused_at_load_with_the_reason(query, why):
    assert why in (problem_with(query) or "")
    with pytest.raises(ValidationError, match="exactly one read-only query"):
        Migrations(tool="sql", query=query)


def test_the_query_is_sent_inside_a_subquery_where_only_a_query_parses():
    sent = as_subquery("SELECT version FROM v; -- the last one; really")

    assert sent == "SELECT * FROM (\nSELECT version FROM v\n) AS custom_query"
