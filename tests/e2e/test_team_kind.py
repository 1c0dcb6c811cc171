"""A team adds its own kind of evidence from its `conftest.py` alone, through the hook `pytest_deploycheck_kinds`:
its probe gets its fixture like the built-in ones, is gathered with them (serial and under -n 2), and its findings
reach the verdict with their evidence. Here: is each service's TCP port open, against the real demo and a port
nothing listens on."""

from __future__ import annotations

import socket

from tests.conftest import write_checks, write_environment

TEAM_KIND = '''
"""A team's kind: whether a service's port accepts a TCP connection, within its timeout."""

import asyncio
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from deploycheck.evidence import Evidence, Probe, register, register_session


@dataclass(frozen=True)
class TcpRequest:
    host: str
    port: int
    timeout_s: float

    def describe(self):
        return {"kind": "tcp", "host": self.host, "port": self.port, "timeout_s": self.timeout_s}


class TcpSession:
    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc_info):
        return None

    async def fetch(self, request):
        started = time.monotonic()
        try:
            connecting = asyncio.open_connection(request.host, request.port)
            _, writer = await asyncio.wait_for(connecting, request.timeout_s)
        except (OSError, asyncio.TimeoutError) as error:
            return Evidence(request.describe(), error=f"cannot connect: {type(error).__name__}")
        writer.close()
        return Evidence(request.describe(), value="open", elapsed_ms=(time.monotonic() - started) * 1000)


def plan_port(environment, service, settings):
    parts = urlsplit(service.url)
    return TcpRequest(parts.hostname, parts.port or 443, service.timeout_s)


register_session("tcp", TcpSession)
register(Probe("port_open", "tcp", "health", plan_port))
'''

TEAM_CONFTEST = """

from deploycheck.evidence import Kind


def pytest_deploycheck_kinds(registry):
    registry.add(Kind("tcp", ("team_tcp",), sections=("health",), probes=("port_open",), origin="conftest.py"))
"""

TEAM_CHECK = """
from deploycheck.findings import Finding, Outcome


def test_port_is_open(target, port_open, verify):
    outcome = Outcome.PASSED if port_open.ok else Outcome.FAILED
    verify(Finding(outcome, port_open.error or "the port accepts connections", source=port_open.source))
"""


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens once it is closed


def test_a_kind_from_a_conftest_is_gathered_and_judged(start_demo, run_suite, tmp_path, workers):
    running = start_demo("api-gateway")
    services = {
        "api-gateway": {"url": running.urls["api-gateway"]},
        "ghost": {"url": f"http://127.0.0.1:{closed_port()}"},
    }
    environments = write_environment(tmp_path / "environments", "staging", services)
    checks = write_checks(tmp_path / "team", team_tcp=TEAM_KIND, test_tcp=TEAM_CHECK)
    with (checks / "conftest.py").open("a") as conftest:
        conftest.write(TEAM_CONFTEST)

    run = run_suite(environments, "--env", "staging", workers=workers, checks=[checks])

    assert "fixture 'port_open' not found" not in run.stdout
    assert run.outcomes() == {("api-gateway", "tcp.port_is_open"): "passed", ("ghost", "tcp.port_is_open"): "failed"}
    ghost = run.verdict["services"]["ghost"]["findings"][0]
    assert ghost["message"] == "cannot connect: ConnectionRefusedError"
    assert ghost["source"]["kind"] == "tcp" and ghost["source"]["host"] == "127.0.0.1"
    assert run.ret == 1, run.stdout
