"""docs/writing-kinds.md stays true: its titled code blocks, extracted into a project, make a working kind, through
the hook of a `conftest.py` and through the entry point of an installed distribution (a `*.dist-info` on the
subprocess's PYTHONPATH: no network, no pip). Against a real TCP server speaking the Redis protocol (started here):
the kind's section is validated (exit 4 naming the key), in `schema`, `validate` and `kinds`; its probe is gathered
once per service per run, serial and under -n 2; its findings carry their evidence into verdict.json and Allure;
its secret never shows."""

from __future__ import annotations

import json
import os
import re
import socket
import socketserver
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, write_checks, write_environment

DOC = REPO / "docs" / "writing-kinds.md"
BLOCK = re.compile(r'```(\w+) title="([^"]+)"\n(.*?)\n```', re.DOTALL)
PASSWORD = "redis-pass-Zq81xK"
WRONG_PASSWORD = "wrong-pass-Mv42pL"


def doc_blocks() -> dict[str, str]:
    """path -> source of every titled block of the page."""
    return {path: source + "\n" for _, path, source in BLOCK.findall(DOC.read_text(encoding="utf-8"))}


class RedisProtocol(socketserver.StreamRequestHandler):
    """Enough of Redis for PING: AUTH with the password, then +PONG; a wrong password is echoed back, as a careless
    server might (a kind that relayed the reply would have the suite's redaction to rely on)."""

    def handle(self) -> None:
        self.server.connections += 1  # type: ignore[attr-defined]
        authenticated = False
        while words := self.command():
            if words[0].upper() == "AUTH":
                authenticated = words[-1] == PASSWORD
                self.wfile.write(b"+OK\r\n" if authenticated else f"-WRONGPASS {words[-1]!r}\r\n".encode())
            elif words[0].upper() == "PING":
                self.wfile.write(b"+PONG\r\n" if authenticated else b"-NOAUTH Authentication required.\r\n")

    def command(self) -> list[str]:
        header = self.rfile.readline()
        if not header.startswith(b"*"):
            return []
        words = []
        for _ in range(int(header[1:])):
            length = int(self.rfile.readline()[1:])
            words.append(self.rfile.read(length + 2)[:-2].decode())
        return words


@pytest.fixture
def redis_server() -> Iterator[socketserver.ThreadingTCPServer]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), RedisProtocol)
    server.daemon_threads = True
    server.connections = 0  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield int(sock.getsockname()[1])


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_blocks(root: Path, blocks: dict[str, str], prefix: str) -> None:
    for path, source in blocks.items():
        if path.startswith(prefix):
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_text(source)


def installed(site: Path, blocks: dict[str, str]) -> None:
    """The package of the page as pip would install it: its modules and a dist-info with its entry points."""
    write_blocks(site, blocks, "team_redis/")
    dist_info(site, tomllib.loads(blocks["pyproject.toml"])["project"])


def dist_info(site: Path, project: dict[str, Any]) -> None:
    info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    groups = project["entry-points"]
    (info / "entry_points.txt").write_text(
        "".join(f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in names.items()) for group, names in groups.items())
    )


@pytest.fixture(params=["conftest-hook", "entry-point"])
def team_project(request, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """The project a team gets by copying the page: (its checks folder, how the kind is registered)."""
    blocks = doc_blocks()
    if request.param == "conftest-hook":
        write_blocks(tmp_path, blocks, "")  # the package, the check and the conftest.py with the hook
        monkeypatch.setenv("PYTHONPATH", str(tmp_path))
        return tmp_path / "checks", request.param
    installed(tmp_path / "site", blocks)
    checks = write_checks(tmp_path / "checks", test_redis=blocks["checks/test_redis.py"])  # no hook: the suite's own
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "site"))
    return checks, request.param


def test_the_documented_kind_is_gathered_judged_and_redacted(
    team_project, redis_server, silent_port, run_suite, tmp_path, workers, monkeypatch
):
    checks, _ = team_project
    monkeypatch.setenv("CART_REDIS_PASSWORD", PASSWORD)
    monkeypatch.setenv("ORDERS_REDIS_PASSWORD", WRONG_PASSWORD)
    port = redis_server.server_address[1]
    url = f"http://127.0.0.1:{port}"
    services = {
        "cart": {"url": url, "redis": {"port": port, "password": "${CART_REDIS_PASSWORD}"}},
        "orders": {"url": url, "redis": {"port": port, "password": "${ORDERS_REDIS_PASSWORD}"}},
        "ghost": {"url": url, "redis": {"port": closed_port()}},
        "stuck": {"url": url, "timeout": "1s", "redis": {"port": silent_port}},  # the deadline ends it
        "web": {"url": url},  # no `redis`: not applicable
    }
    environments = write_environment(tmp_path / "environments", "staging", services)
    allure = tmp_path / "allure-results"

    run = run_suite(environments, "--env", "staging", "--alluredir", str(allure), workers=workers, checks=[checks])

    assert run.outcomes() == {
        ("cart", "redis.answers_ping"): "passed",
        ("orders", "redis.answers_ping"): "failed",
        ("ghost", "redis.answers_ping"): "failed",
        ("stuck", "redis.answers_ping"): "failed",
        ("web", "redis.answers_ping"): "skipped",
    }, run.stdout
    assert run.ret == 1, run.stdout
    assert redis_server.connections == 2  # cart and orders, each once: gathered once per run, -n 2 included
    cart = run.verdict["services"]["cart"]["findings"][0]
    assert cart["limit"] == 250 and cart["unit"] == "ms" and cart["observed"] <= 250
    assert cart["source"] == {"kind": "redis", "command": "PING", "host": "127.0.0.1", "port": port, "timeout_s": 3}
    assert run.verdict["services"]["orders"]["findings"][0]["observed"] == "AUTH refused"
    assert "Redis did not answer: cannot talk to Redis" in run.verdict["services"]["ghost"]["findings"][0]["message"]
    assert run.verdict["services"]["stuck"]["findings"][0]["message"] == "Redis did not answer: no answer within 1s"
    written = [run.stdout, json.dumps(run.verdict), *(path.read_text() for path in allure.iterdir())]
    assert any("PONG in" in text for text in written[2:]), "the finding reaches Allure"
    assert not [text for text in written if PASSWORD in text or WRONG_PASSWORD in text]


def test_a_wrong_value_in_the_documented_section_is_a_usage_error_naming_its_key(team_project, run_suite, tmp_path):
    checks, _ = team_project
    services = {"cart": {"url": "http://127.0.0.1:8080", "redis": {"port": "six thousand"}}}
    environments = write_environment(tmp_path / "environments", "staging", services)

    run = run_suite(environments, "--env", "staging", checks=[checks])

    assert run.ret == 4, run.stdout
    assert "services.cart.redis.port" in run.stdout


def deploycheck(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "deploycheck", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=60, env=os.environ.copy())


def test_an_installed_kind_is_in_kinds_schema_and_validate(tmp_path, monkeypatch):
    installed(tmp_path / "site", doc_blocks())
    write_blocks(tmp_path, doc_blocks(), "checks/test_")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "site"))
    good = {"cart": {"url": "http://127.0.0.1:8080", "redis": {"port": 6379, "password": "${CART_REDIS_PASSWORD}"}}}
    write_environment(tmp_path / "environments", "staging", good)
    bad = {"cart": {"url": "http://127.0.0.1:8080", "redis": {"port": 6379, "max_round_trip_ms": "fast"}}}
    write_environment(tmp_path / "environments", "broken", bad)
    monkeypatch.setenv("CART_REDIS_PASSWORD", PASSWORD)

    listing = json.loads(deploycheck("kinds", "--json", cwd=tmp_path).stdout)["kinds"]
    schema = json.loads(deploycheck("schema", cwd=tmp_path).stdout)
    valid = deploycheck("validate", "staging", cwd=tmp_path)
    invalid = deploycheck("validate", "broken", cwd=tmp_path)

    assert listing[-1] == {
        "name": "redis",
        "origin": "entry point deploycheck.kinds:redis of team-redis",
        "sections": ["redis"],
        "probes": ["redis_ping"],
        "checks": ["redis.answers_ping"],
    }
    assert [kind["origin"] for kind in listing[:4]] == ["built-in"] * 4
    assert "redis" in json.dumps(schema) and "max_round_trip_ms" in json.dumps(schema)
    assert valid.returncode == 0, valid.stderr
    assert invalid.returncode == 4 and "services.cart.redis.max_round_trip_ms" in invalid.stderr, invalid.stderr
    assert PASSWORD not in valid.stdout + valid.stderr


def test_kinds_lists_the_built_in_kinds_as_text(tmp_path):
    listing = deploycheck("kinds", cwd=tmp_path)

    assert listing.returncode == 0, listing.stderr
    assert "database  (built-in)" in listing.stdout
    assert "database.reachable" in listing.stdout and "health.liveness" in listing.stdout
    assert "conftest.py hook" in listing.stdout  # says what it cannot know without a run


def test_a_broken_installed_kind_is_a_usage_error_naming_its_distribution(run_suite, tmp_path, monkeypatch):
    entry = {"deploycheck.kinds": {"queue": "team_queue_missing:add"}}
    dist_info(tmp_path / "site", {"name": "team-queue", "version": "1.0", "entry-points": entry})
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "site"))
    environments = write_environment(tmp_path / "environments", "staging", {"api": {"url": "http://127.0.0.1:9"}})
    said = "the entry point deploycheck.kinds:queue of team-queue (team_queue_missing:add) could not add its kind"

    listing = deploycheck("kinds", cwd=tmp_path)
    run = run_suite(environments, "--env", "staging", checks=[REPO / "checks" / "test_health.py"])

    assert listing.returncode == 4 and said in listing.stderr and "Traceback" not in listing.stderr, listing.stderr
    assert run.ret == 4 and said in run.stdout and "Traceback" not in run.stdout, run.stdout
