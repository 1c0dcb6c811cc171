"""A private PostgreSQL cluster on loopback, as pytest fixtures (issue 11: a real PostgreSQL, nothing mocked).

Use them from a test module with `pytest_plugins = ["tests.postgres_server"]` (PYTEST_DONT_REWRITE: the module may
be imported too, for `start_replica` and `PostgresServer`):

    postgres            session-scoped: one cluster for the whole test session (databases and roles are cheap)
    postgres_factory    start() -> a cluster of the test's own (one it may stop), stopped when the test ends
    start_replica(primary)  a streaming hot standby of a cluster (pg_basebackup -R); the caller stops it

A cluster is `initdb`'d into a temporary directory and started on 127.0.0.1 with a free port (its unix socket in
that directory too), password (scram) authentication over TCP, fsync off. `PostgresServer.admin()` gives a
superuser connection (autocommit) to create what a test needs; `create_database`, `create_role`,
`create_suite_role` (the role docs/database.md recommends) and `dsn` help.

The binaries are the machine's (`initdb`, `postgres` on PATH, else /usr/lib/postgresql/<newest>/bin); when they are
missing the test is skipped with the reason, unless DEPLOYCHECK_REQUIRE_POSTGRES=1 (CI installs them), which fails
it. initdb and postgres refuse to run as root: under euid 0 the server runs as `nobody`, in a directory it owns.
No server outlives the test process: each is stopped at teardown (fast shutdown, then SIGKILL), and on Linux it is
told to shut down at once should the test process die first.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from deploycheck.children import die_with_parent, stop
from tests.processes import free_port, log_tail, unavailable

PYTEST_DONT_REWRITE = True
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
REQUIRE_VARIABLE = "DEPLOYCHECK_REQUIRE_POSTGRES"
SUPERUSER, SUPERUSER_PASSWORD = "postgres", "admin-Secret-7"
UNPRIVILEGED = "nobody"  # who runs the server when the tests run as root


@dataclass
class PostgresServer:
    host: str
    port: int
    directory: Path
    process: subprocess.Popen[bytes]
    log: Path
    stopped: bool = field(default=False)

    def dsn(self, dbname: str = "postgres", user: str = SUPERUSER, password: str = SUPERUSER_PASSWORD) -> str:
        return psycopg.conninfo.make_conninfo(host=self.host, port=self.port, dbname=dbname, user=user,
                                              password=password)  # fmt: skip

    def admin(self, dbname: str = "postgres") -> psycopg.Connection[Any]:
        """A superuser connection in autocommit (the test's own hand, independent of the code under test)."""
        return psycopg.connect(self.dsn(dbname), autocommit=True, connect_timeout=5)

    def create_role(self, name: str, password: str, *grants: str) -> None:
        """A login role with a password, member of the given roles (e.g. pg_monitor)."""
        with self.admin() as connection:
            connection.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
            connection.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(name), sql.Literal(password))
            )
            for grant in grants:
                connection.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(grant), sql.Identifier(name)))

    def create_suite_role(self, name: str, password: str, dbname: str, *tables: str, schema: str = "public") -> None:
        """The role docs/database.md recommends for the suite, with exactly its grants: pg_read_all_stats, and
        CONNECT on the database, USAGE on the schema, SELECT on the given (migrations) tables."""
        self.create_role(name, password, "pg_read_all_stats")
        self.grant_reading(name, dbname, *tables, schema=schema)

    def grant_reading(self, name: str, dbname: str, *tables: str, schema: str = "public") -> None:
        """The recommended role's grants in one database: CONNECT, USAGE on the schema, SELECT on the tables."""
        role = sql.Identifier(name)
        with self.admin() as connection:
            connection.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(dbname), role))
        with self.admin(dbname) as connection:
            connection.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(schema), role))
            for table in tables:
                target = sql.Identifier(*table.split("."))
                connection.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(target, role))

    def create_database(self, name: str, owner: str = SUPERUSER, script: str = "") -> None:
        """A fresh database (dropped first if it exists), with `script` run in it by its owner's superuser."""
        with self.admin() as connection:
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            connection.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(owner))
            )
        if script:
            with self.admin(name) as connection:
                connection.execute(script.encode())  # several statements: the simple query protocol

    def stop(self) -> None:
        """Fast shutdown (SIGINT: sessions are ended), SIGKILL after STOP_TIMEOUT_S; returns once it is gone."""
        self.stopped = True
        stop(self.process, signal.SIGINT, STOP_TIMEOUT_S)

    def log_tail(self, lines: int = 15) -> str:
        return log_tail(self.log, lines)


def binaries() -> Path:
    """The directory of initdb and postgres; else skip (or fail, when CI requires them)."""
    found = shutil.which("initdb")
    if found and shutil.which("postgres", path=str(Path(found).resolve().parent)):
        return Path(found).resolve().parent
    installed = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if installed:
        return Path(installed[-1]).parent
    reason = (
        "PostgreSQL is not installed (no initdb on PATH nor in /usr/lib/postgresql/*/bin): apt-get install postgresql"
    )
    unavailable(reason, REQUIRE_VARIABLE)


def start_cluster(parent: Path | None = None) -> PostgresServer:
    """initdb a private cluster and start it on a free loopback port; returns once it accepts connections."""
    bin_dir = binaries()
    directory = Path(tempfile.mkdtemp(prefix="deploycheck-pg-", dir=parent))
    as_user = _unprivileged_user()
    if as_user is not None:
        os.chown(directory, as_user.pw_uid, as_user.pw_gid)
    password_file = directory / "superuser-password"
    password_file.write_text(SUPERUSER_PASSWORD + "\n")
    if as_user is not None:
        os.chown(password_file, as_user.pw_uid, as_user.pw_gid)
    data = directory / "data"
    initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", SUPERUSER, f"--pwfile={password_file}", "-E", "UTF8",
              "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync"]  # fmt: skip
    done = subprocess.run(initdb, capture_output=True, timeout=120, **_run_as(as_user))
    if done.returncode != 0:
        raise RuntimeError(f"initdb failed ({done.returncode}): {done.stderr.decode(errors='replace')[-2000:]}")
    return _serve(bin_dir, directory, data, as_user)


def _serve(bin_dir: Path, directory: Path, data: Path, as_user: pwd.struct_passwd | None) -> PostgresServer:
    port = free_port()
    log = directory / "postgres.log"
    arguments = [str(bin_dir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(directory),
                 "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
                 "-c", "full_page_writes=off", "-c", "max_connections=200", "-c", "shared_buffers=32MB",
                 "-c", "wal_level=replica", "-c", "max_wal_senders=4"]  # fmt: skip
    with open(log, "wb") as output:
        process = subprocess.Popen(
            arguments,
            stdout=output,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent(signal.SIGQUIT),
            **_run_as(as_user),
        )
    server = PostgresServer("127.0.0.1", port, directory, process, log)
    _wait_ready(server)
    return server


def start_replica(primary: PostgresServer) -> PostgresServer:
    """A streaming hot standby of `primary` (pg_basebackup -R), on its own free port; returns once it answers."""
    bin_dir = binaries()
    directory = Path(tempfile.mkdtemp(prefix="deploycheck-pg-replica-"))
    as_user = _unprivileged_user()
    if as_user is not None:
        os.chown(directory, as_user.pw_uid, as_user.pw_gid)
    data = directory / "data"
    backup = [str(bin_dir / "pg_basebackup"), "-D", str(data), "-R", "-X", "stream", "-d", primary.dsn()]
    done = subprocess.run(backup, capture_output=True, timeout=120, **_run_as(as_user))
    if done.returncode != 0:
        raise RuntimeError(f"pg_basebackup failed ({done.returncode}): {done.stderr.decode(errors='replace')[-2000:]}")
    return _serve(bin_dir, directory, data, as_user)


def _unprivileged_user() -> pwd.struct_passwd | None:
    return pwd.getpwnam(UNPRIVILEGED) if os.geteuid() == 0 else None


def _run_as(user: pwd.struct_passwd | None) -> dict[str, Any]:
    if user is None:
        return {}
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": [], "cwd": "/"}


def _wait_ready(server: PostgresServer) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"postgres exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            with server.admin():
                return
        except psycopg.OperationalError as error:
            if time.monotonic() > deadline:
                server.stop()
                message = f"postgres not ready within {READY_TIMEOUT_S:g}s: {error}\n{server.log_tail()}"
                raise RuntimeError(message) from None
            time.sleep(0.1)


def _remove(server: PostgresServer) -> None:
    server.stop()
    shutil.rmtree(server.directory, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One private cluster for the test session."""
    server = start_cluster()
    yield server
    _remove(server)


@pytest.fixture
def postgres_factory() -> Iterator[Callable[[], PostgresServer]]:
    """Start clusters of the test's own (to stop them, say); each is stopped and removed when the test ends."""
    started: list[PostgresServer] = []

    def start() -> PostgresServer:
        server = start_cluster()
        started.append(server)
        return server

    yield start
    for server in started:
        with contextlib.suppress(OSError):
            _remove(server)
