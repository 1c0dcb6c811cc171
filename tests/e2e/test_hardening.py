"""Hostile targets and bad input, end to end through the suite: never a false PASS, never a hang, never a
traceback, never a leaked secret. The misbehaving servers are real (tests/hostile_servers.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import DEFAULT_ENDPOINTS, REPO, write_checks, write_environment

pytest_plugins = ["tests.hostile_servers"]

TIMEOUT_S = 2.0
MARGIN_S = 3.0  # beyond the configured timeout: the run's own work, on a busy two-core machine


def test_a_dripping_service_fails_in_its_timeout_and_the_others_get_their_verdict(
    start_demo, dripping_body_server, run_suite, tmp_path, workers
):
    running = start_demo("api-gateway", "orders")
    services = {name: {"url": url} for name, url in running.urls.items()}
    services["slowpoke"] = {"url": dripping_body_server, "timeout": f"{TIMEOUT_S:g}s"}
    environments = write_environment(tmp_path / "environments", "staging", services)
    run = run_suite(environments, "--env", "staging", "--expected-version", "v2.3.1", workers=workers)

    assert run.ret == 1, run.stdout
    assert {name: body["verdict"] for name, body in run.verdict["services"].items()} == {
        "api-gateway": "PASS",
        "orders": "PASS",
        "slowpoke": "FAIL",
    }
    assert set(run.not_passed()) == {("slowpoke", check) for check in ("health.liveness", "health.readiness")} | {
        ("slowpoke", "version.matches_expected")
    }
    assert f"no answer within {TIMEOUT_S:g}s (reading the body" in run.verdict["reasons"][0]
    assert run.verdict["duration_s"] < TIMEOUT_S + MARGIN_S


def test_waiting_for_a_dripping_service_is_bounded_too(dripping_body_server, run_suite, tmp_path):
    services = {"slowpoke": {"url": dripping_body_server, "timeout": "1s"}}
    environments = write_environment(tmp_path / "environments", "staging", services)
    run = run_suite(environments, "--env", "staging", "--wait-ready", "3s", "-k", "liveness")

    assert run.ret == 1, run.stdout
    assert run.verdict["duration_s"] < 3 + 1 + MARGIN_S


def test_timing_a_service_that_answers_nothing_stops_early(dripping_headers_server, run_suite, tmp_path):
    # 300 timed requests of 1 s each, 5 at a time, would take a minute; ten unanswered in a row settle it.
    metrics = {"source": "sample", "sample_path": "/v1/items", "sample_requests": 300}
    services = {"hung": {"url": dripping_headers_server, "timeout": "1s", "metrics": metrics}}
    environments = write_environment(tmp_path / "environments", "staging", services)
    run = run_suite(environments, "--env", "staging", "-k", "p95 or rate")

    assert run.ret == 1, run.stdout
    assert run.not_passed() == {("hung", "errors.rate"): "failed", ("hung", "latency.p95"): "inconclusive"}
    rate = next(f for f in run.verdict["services"]["hung"]["findings"] if f["check"] == "errors.rate")
    assert rate["source"]["stopped"] == "stopped after 10 requests in a row got no answer"
    assert 10 <= rate["source"]["sent"] < 20 and rate["samples"] == rate["source"]["sent"]
    assert rate["window"].startswith(f"{rate['source']['sent']} of 300 requests to /v1/items")
    assert run.verdict["duration_s"] < 10 + MARGIN_S


def test_a_huge_answer_is_capped_and_fails(huge_body_server, run_suite, tmp_path, workers):
    environments = write_environment(tmp_path / "environments", "staging", {"flood": {"url": huge_body_server}})
    started = time.monotonic()
    run = run_suite(environments, "--env", "staging", "-k", "liveness", workers=workers)

    assert run.ret == 1, run.stdout
    assert run.not_passed() == {("flood", "health.liveness"): "failed"}
    assert (
        "with a body of 200.0 MiB or more, over the 1.0 MiB a probe reads: not a health answer"
        in run.verdict["reasons"][0]
    )
    assert time.monotonic() - started < 30


@pytest.mark.parametrize(
    ("server", "said"),
    [
        ("refused_server", "no answer: connection refused"),
        ("reset_server", "no answer: connection reset by peer"),
        ("html_error_server", "answered 500, expected 200; body: "),
    ],
)
def test_failures_read_in_plain_words_on_one_line(request, run_suite, tmp_path, server, said):
    url = request.getfixturevalue(server)
    environments = write_environment(tmp_path / "environments", "staging", {"orders": {"url": url}})
    run = run_suite(environments, "--env", "staging", "-k", "liveness")

    assert run.ret == 1, run.stdout
    [reason] = run.verdict["reasons"]
    assert said in reason and "\n" not in reason and len(reason) < 400


def test_a_private_ca_is_trusted_through_the_configuration(tls_server, run_suite, tmp_path):
    def run_with(tls):
        health = {"path": "/health", "expect": {"method": "GET"}}  # the echo server answers with the request
        services = {"internal": {"url": tls_server.url, "health": health, "tls": tls}}
        environments = write_environment(tmp_path / "environments", "staging", services, defaults={})
        return run_suite(environments, "--env", "staging", "-k", "liveness")

    trusted = run_with({"ca_file": tls_server.ca_file})
    assert trusted.ret == 0, trusted.stdout
    assert trusted.verdict["warnings"] == []

    untrusted = run_with({})
    assert untrusted.ret == 1, untrusted.stdout
    assert "TLS: certificate verify failed" in untrusted.verdict["reasons"][0]

    unverified = run_with({"verify": False})
    assert unverified.ret == 0, unverified.stdout
    assert unverified.verdict["warnings"] == [
        "internal: TLS certificates are not verified (tls.verify: false): its answers could come from anyone"
    ]


@pytest.mark.parametrize("how", ["option", "variable"])
def test_an_empty_expected_version_is_a_usage_error(start_demo, run_suite, tmp_path, monkeypatch, how):
    running = start_demo("orders")
    environments = write_environment(tmp_path / "environments", "staging", {"orders": {"url": running.urls["orders"]}})
    args = ["--expected-version", ""] if how == "option" else []
    if how == "variable":
        monkeypatch.setenv("EXPECTED_VERSION", "")
    run = run_suite(environments, "--env", "staging", *args)

    assert run.ret == 4, run.stdout
    assert "--expected-version (from " in run.stdout and "is empty" in run.stdout
    assert run.verdict is None


def test_a_verdict_file_that_cannot_be_written_is_a_usage_error_before_anything_runs(start_demo, pytester, tmp_path):
    running = start_demo("orders")
    environments = write_environment(tmp_path / "environments", "staging", {"orders": {"url": running.urls["orders"]}})
    result = pytester.runpytest_subprocess(
        "-c", str(REPO / "pyproject.toml"), "--rootdir", str(REPO), "--environments-dir", str(environments),
        "--env", "staging", "--verdict-file", "/proc/deploycheck/verdict.json", str(REPO / "checks"), timeout=120,
    )  # fmt: skip
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == 4, output
    assert "--verdict-file /proc/deploycheck/verdict.json (from --verdict-file): cannot write there" in output
    assert "Traceback" not in output


def test_interrupting_the_run_is_reported_with_the_same_status(start_demo, tmp_path):
    running = start_demo("orders")
    environments = write_environment(tmp_path / "environments", "staging", {"orders": {"url": running.urls["orders"]}})
    started = tmp_path / "started"
    checks = write_checks(
        tmp_path / "checks",
        test_stuck=f"import pathlib, time\n\ndef test_waits(target):\n    pathlib.Path({str(started)!r}).touch()\n"
        "    time.sleep(60)\n",
    )
    verdict = tmp_path / "verdict.json"
    command = [sys.executable, "-m", "pytest", "-c", str(REPO / "pyproject.toml"), "--rootdir", str(REPO)]
    command += ["--environments-dir", str(environments), "--env", "staging", "--verdict-file", str(verdict)]
    process = subprocess.Popen([*command, str(checks)], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not started.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    document = yaml.safe_load(verdict.read_text())
    assert process.returncode == 2, output.decode()
    assert (document["exit_status"], document["verdict"], document["action"]) == (2, "INCONCLUSIVE", "hold")
    assert document["reasons"][0] == "the run stopped before its end (INTERRUPTED): cancelled by SIGINT"


SECRETS = {
    "URL_PASSWORD": "s3cret-url-password-1f2e",
    "EMPTY_USER_TOKEN": "s3cret-empty-user-token-3d4c",
    "QUERY_TOKEN": "s3cret-query-token-5b6a",
    "API_KEY": "s3cret-api-key-7980",
    "BEARER": "s3cret-bearer-token-a1b2",
    "PROMETHEUS_TOKEN": "s3cret-prometheus-token-c3d4",
    "DB_PASSWORD": "s3cret-db-password-e5f6",
}


@pytest.mark.parametrize("workers", [0, 2], ids=["serial", "xdist-2"])
def test_no_secret_reaches_any_output(start_demo, refused_server, pytester, tmp_path, monkeypatch, workers):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    running = start_demo("orders", "payments", faults={"payments": ["unhealthy"]})
    host = running.urls["orders"].removeprefix("http://")
    services = {
        "orders": {
            "url": f"http://deployer:${{URL_PASSWORD}}@{host}",
            "headers": {"X-Api-Key": "${API_KEY}", "Authorization": "Bearer ${BEARER}"},
            "health": {**DEFAULT_ENDPOINTS["health"], "path": "/health?access_token=${QUERY_TOKEN}"},
            "database": {"dsn": "postgresql://app:${DB_PASSWORD}@127.0.0.1:9/app"},
        },
        "payments": {"url": "http://:${EMPTY_USER_TOKEN}@" + running.urls["payments"].removeprefix("http://")},
        "gone": {"url": refused_server.replace("http://", "http://deployer:${URL_PASSWORD}@")},
    }
    prometheus = {"url": "http://127.0.0.1:9", "token": "${PROMETHEUS_TOKEN}"}
    environments = write_environment(tmp_path / "environments", "staging", services, prometheus=prometheus)
    # A check that fails with the service and its request among its locals, for -l and --full-trace to print.
    checks = write_checks(
        tmp_path / "checks",
        test_leaky="def test_prints_everything(target, health):\n"
        "    service, request = target.service, health\n"
        "    print(service, request, service.url, dict(service.headers))\n"
        "    assert request is None, (service.url, request)\n",
    )
    reports = tmp_path / "reports"
    result = pytester.runpytest_subprocess(
        "-c", str(REPO / "pyproject.toml"), "--rootdir", str(REPO), "--environments-dir", str(environments),
        "--env", "staging", "--expected-version", "v2.3.1", "-l", "--full-trace", "-rA",
        "--verdict-file", str(reports / "verdict.json"), "--summary-file", str(reports / "summary.md"),
        "--junitxml", str(reports / "junit.xml"), "--alluredir", str(reports / "allure"),
        *(["-n", str(workers)] if workers else []), str(REPO / "checks"), str(checks), timeout=180,
    )  # fmt: skip
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == 1, output
    assert "deployer:***@" in output  # the failing URL is shown, its password is not
    written = {path: path.read_text(errors="replace") for path in reports.rglob("*") if path.is_file()}
    assert {"verdict.json", "summary.md", "junit.xml"} <= {path.name for path in written}
    assert any(path.parent.name == "allure" for path in written)
    for name, value in SECRETS.items():
        assert value not in output, f"{name} in the terminal output"
        for path, text in written.items():
            assert value not in text, f"{name} in {path.relative_to(reports)}"


def test_list_services_never_shows_a_secret(run_suite, tmp_path, monkeypatch):
    monkeypatch.setenv("URL_PASSWORD", SECRETS["URL_PASSWORD"])
    services = {"orders": {"url": "http://deployer:${URL_PASSWORD}@127.0.0.1:9"}}
    environments = write_environment(tmp_path / "environments", "staging", services)
    run = run_suite(environments, "--env", "staging", "--list-services")

    assert run.ret == 0, run.stdout
    assert "deployer:***@127.0.0.1:9" in run.stdout and SECRETS["URL_PASSWORD"] not in run.stdout


def test_a_run_killed_before_its_teardown_leaves_no_demo_serving(tmp_path):
    # CI kills a job that ran out of time with SIGKILL: no teardown runs, and the demo must not live on.
    suite = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--env", "local", "--verdict-file",
         str(tmp_path / "verdict.json"), "--probe-traffic", "10000", str(REPO / "checks")],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    demo = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and suite.poll() is None:
        demo = next(iter(_children_running(suite.pid, "deploycheck_demo")), None)
        if demo is not None and _sockets(demo) >= 3:  # serving: its two services and its admin port listen
            break
        time.sleep(0.05)
    suite.kill()
    suite.wait()
    assert demo is not None, "the suite did not start its demo"
    deadline = time.monotonic() + 10
    while _alive(demo) and time.monotonic() < deadline:
        time.sleep(0.05)
    outlived = _alive(demo)
    if outlived:
        os.kill(demo, signal.SIGKILL)  # this test leaves nothing running either
    assert not outlived, f"the demo (pid {demo}) outlived the killed run"


def _children_running(parent: int, module: str) -> list[int]:
    """The pids of `parent`'s children whose command line names `module` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and module in command:
            found.append(int(entry.name))
    return found


def _sockets(pid: int) -> int:
    try:
        return sum(1 for fd in Path(f"/proc/{pid}/fd").iterdir() if fd.readlink().name.startswith("socket:"))
    except OSError:
        return 0


def _alive(pid: int) -> bool:
    """Still running (a zombie, killed and waiting for init to reap it, is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
