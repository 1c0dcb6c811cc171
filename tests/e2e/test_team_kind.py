"""A team adds its own kind of evidence from its `conftest.py` alone, through the hook `pytest_deploycheck_kinds`:
its probe gets its fixture like the built-in ones, is gathered with them (serial and under -n 2), and its findings
reach the verdict with their evidence. Here: is each service's TCP port open, against the real demo and a port
nothing listens on."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

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
    tcp = service.section("tcp")
    return TcpRequest(urlsplit(service.url).hostname, tcp.port, service.timeout_s) if tcp is not None else None


register_session("tcp", TcpSession)
register(Probe("port_open", "tcp", "tcp", plan_port))
'''

TEAM_CONFTEST = """

from pydantic import Field

from deploycheck.config.compose import PluggedSection
from deploycheck.config.types import Port, Section
from deploycheck.evidence import Kind


class Tcp(Section):
    port: Port = Field(description="the port that must accept connections")


def pytest_deploycheck_kinds(registry):
    section = PluggedSection("tcp", Tcp, description="a TCP port of the service")
    registry.add(Kind("tcp", ("team_tcp",), ("tcp",), ("port_open",), config=(section,), origin="conftest.py"))
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


def team_project(tmp_path, services):
    environments = write_environment(tmp_path / "environments", "staging", services)
    checks = write_checks(tmp_path / "team", team_tcp=TEAM_KIND, test_tcp=TEAM_CHECK)
    with (checks / "conftest.py").open("a") as conftest:
        conftest.write(TEAM_CONFTEST)
    return environments, checks


def test_a_kind_from_a_conftest_is_gathered_and_judged(start_demo, run_suite, tmp_path, workers):
    url = start_demo("api-gateway").urls["api-gateway"]
    services = {
        "api-gateway": {"url": url, "tcp": {"port": urlsplit(url).port}},
        "ghost": {"url": "http://127.0.0.1", "tcp": {"port": closed_port()}},
        "web": {"url": url},  # no `tcp`: the check does not apply
    }
    environments, checks = team_project(tmp_path, services)

    run = run_suite(environments, "--env", "staging", workers=workers, checks=[checks])

    assert "fixture 'port_open' not found" not in run.stdout
    assert run.outcomes() == {
        ("api-gateway", "tcp.port_is_open"): "passed",
        ("ghost", "tcp.port_is_open"): "failed",
        ("web", "tcp.port_is_open"): "skipped",
    }
    ghost = run.verdict["services"]["ghost"]["findings"][0]
    assert ghost["message"] == "cannot connect: ConnectionRefusedError"
    assert ghost["source"]["kind"] == "tcp" and ghost["source"]["host"] == "127.0.0.1"
    assert run.ret == 1, run.stdout


def test_a_wrong_value_in_a_team_section_is_a_usage_error_naming_its_key(run_suite, tmp_path):
    services = {"api": {"url": "http://127.0.0.1:8080", "tcp": {"port": "https"}}}
    environments, checks = team_project(tmp_path, services)

    run = run_suite(environments, "--env", "staging", checks=[checks])

    assert run.ret == 4, run.stdout
    assert "services.api.tcp.port" in run.stdout
