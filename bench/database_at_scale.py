"""Databases at scale: the database evidence of N services (one database each, in a private PostgreSQL cluster),
all at once, against a floor that makes the same connections and queries with psycopg directly.

It starts a private cluster (tests/postgres_server.py: initdb into a temporary directory, a free loopback port),
creates N databases, each with an Alembic version table, and a login that may read them all. Then it times each row
ROUNDS times, rows interleaved within a round, and prints medians with the ratio to the floor:

    floor       psycopg's AsyncConnection directly: per database, connect, run the same queries (the role check
                first, as each session does), close; all at once
    evidence    deploycheck.evidence.store.EvidenceStore.prefetch of the `database` probe of every service (plan from a
                loaded environment, read-only sessions, savepoints, timeouts), all at once in one loop
    suite       once: `pytest checks/test_database.py` over the N services (startup, collection, four checks each,
                the verdict), the time a pipeline waits

A row raises if any database did not answer, so a row that fails fast never looks fast.

    python bench/database_at_scale.py [--services 50] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import psycopg  # noqa: E402

from deploycheck.config.loader import load_environment  # noqa: E402
from deploycheck.evidence.probe import GatherSettings  # noqa: E402
from deploycheck.evidence.store import EvidenceStore  # noqa: E402
from deploycheck.kinds.database.probes import plan_database  # noqa: E402
from deploycheck.kinds.database.role import OWNED_SQL, ROLE_SQL  # noqa: E402
from tests.postgres_server import PostgresServer, start_cluster  # noqa: E402

READER, READER_PASSWORD = "bench_reader", "Bench-reader-pw"
SCRIPT = """
CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);
INSERT INTO alembic_version VALUES ('4f2e1c9a7b3d');
"""
HEAD = "4f2e1c9a7b3d"


def write_environment(directory: Path, server: PostgresServer, size: int) -> dict[str, str]:
    """An environment of `size` services, each with its database's DSN in a variable; returns those variables."""
    variables = {f"SVC_{index:03d}_DB_DSN": server.dsn(f"bench_{index:03d}", READER, READER_PASSWORD) for index in
                 range(size)}  # fmt: skip
    services = {
        f"svc-{index:03d}": {
            "url": "http://127.0.0.1:9",
            "database": {
                "dsn": f"${{SVC_{index:03d}_DB_DSN}}",
                "migrations": {"tool": "alembic", "expected_head": HEAD},
            },
        }
        for index in range(size)
    }
    document = {"environment": "bench", "services": services}
    (directory / "bench.yaml").write_text(json.dumps(document))  # JSON is YAML
    return variables


# What every session asks before the checks' own queries: the role check first, then the server's settings.
SESSION_SQL = (
    (ROLE_SQL, None),
    ("SELECT current_setting('server_version'), pg_is_in_recovery(), current_setting('transaction_read_only')", None),
    (OWNED_SQL, {"schema": None}),
    ("SELECT 1", None),
)


def floor(dsns: list[str], queries: dict[str, str]) -> float:
    async def one(dsn: str) -> int:
        connection = await psycopg.AsyncConnection.connect(dsn)
        try:
            answered = 0
            for sql, parameters in (*SESSION_SQL, *((query, None) for query in queries.values())):
                await connection.execute(sql, parameters)
                answered += 1
            return answered
        finally:
            await connection.close()

    async def every() -> list[int]:
        return list(await asyncio.gather(*(one(dsn) for dsn in dsns)))

    started = time.perf_counter()
    answered = asyncio.run(every())
    elapsed = time.perf_counter() - started
    if answered != [len(SESSION_SQL) + len(queries)] * len(dsns):
        raise SystemExit(f"the floor did not get every answer: {answered}")
    return elapsed


def evidence(directory: Path, variables: dict[str, str]) -> float:
    environment = load_environment(directory, "bench", environ=variables)
    store = EvidenceStore(environment, GatherSettings())
    keys = [(name, "database") for name in environment.services]
    started = time.perf_counter()
    store.prefetch(keys)
    elapsed = time.perf_counter() - started
    broken = [store.get(*key).error for key in keys if not store.get(*key).ok]
    if broken:
        raise SystemExit(f"{len(broken)} of {len(keys)} databases did not answer, e.g. {broken[0]}")
    return elapsed


def suite(directory: Path, variables: dict[str, str]) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as reports:
        command = [sys.executable, "-m", "pytest", "--env", "bench", "--environments-dir", str(directory),
                   "--verdict-file", f"{reports}/verdict.json", "--summary-file", f"{reports}/summary.md", "-q",
                   "-p", "no:cacheprovider", str(REPO / "checks" / "test_database.py")]  # fmt: skip
        started = time.perf_counter()
        done = subprocess.run(command, cwd=REPO, env={**os.environ, **variables}, capture_output=True, text=True)
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"the suite did not pass ({done.returncode}):\n{done.stdout[-3000:]}")
        passed = json.loads(Path(f"{reports}/verdict.json").read_text())["counts"]["passed"]
    return elapsed, passed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--services", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    size = options.services

    server = start_cluster()
    try:
        server.create_role(READER, READER_PASSWORD, "pg_read_all_data", "pg_monitor")
        for index in range(size):
            server.create_database(f"bench_{index:03d}", script=SCRIPT)
        with tempfile.TemporaryDirectory() as name:
            directory = Path(name)
            variables = write_environment(directory, server, size)
            environment = load_environment(directory, "bench", environ=variables)
            first = next(iter(environment.services.values()))
            queries = dict(plan_database(environment, first, GatherSettings()).queries)  # the very same SQL
            dsns = list(variables.values())
            floor(dsns, queries), evidence(directory, variables)  # warm-up: imports, the server's caches
            timings: dict[str, list[float]] = {"floor": [], "evidence": []}
            for _ in range(options.repeat):
                timings["floor"].append(floor(dsns, queries))
                timings["evidence"].append(evidence(directory, variables))
            suite_s, passed = suite(directory, variables)
    finally:
        server.stop()
        shutil.rmtree(server.directory, ignore_errors=True)

    medians = {row: statistics.median(values) for row, values in timings.items()}
    print(
        f"{size} services, one database each, {len(SESSION_SQL) + len(queries)} queries per session; "
        f"median of {options.repeat}"
    )
    print(f"{'row':<10} {'seconds':>8} {'/ floor':>8}")
    for row, seconds in medians.items():
        print(f"{row:<10} {seconds:>7.3f}s {seconds / medians['floor']:>7.1f}x")
    print(f"{'suite':<10} {suite_s:>7.3f}s {'':>8}  pytest checks/test_database.py: {passed} checks passed, once")


if __name__ == "__main__":
    main()
