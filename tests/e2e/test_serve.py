"""`python -m deploycheck serve` against a real HTTP client: the server started as a process on loopback, its runs
the real suite against the demo. Auth, the answer forms of Argo Rollouts and Flagger, one run shared by
concurrent requests, and what a slow or broken run answers."""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, write_environment

TOKEN = "serve-test-token-5f2a"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# The checks that judge what the demo is set up to show: each run takes half the time of the whole suite.
CHECKS = (
    "--pytest-arg",
    str(REPO / "checks" / "test_health.py"),
    "--pytest-arg",
    str(REPO / "checks" / "test_version.py"),
)


@dataclass
class Served:
    url: str
    log: Path

    def argo(self, service: str, version: str | None = "v2.3.1", **headers: str) -> httpx.Response:
        params = {"env": "staging", "service": service, **({"version": version} if version else {})}
        return httpx.get(f"{self.url}/argo", params=params, headers=headers or AUTH, timeout=60)

    def flagger(self, hook: str, service: str, token: str | None = TOKEN) -> httpx.Response:
        metadata = {"env": "staging", "version": "v2.3.1", **({"token": token} if token else {})}
        body = {"name": service, "namespace": "production", "phase": "Progressing", "metadata": metadata}
        return httpx.post(f"{self.url}/flagger/{hook}", json=body, timeout=60)

    def runs_started(self, target: str) -> int:
        return self.log.read_text().count(f"run started: {target}")


@pytest.fixture
def environments(start_demo, tmp_path) -> Path:
    """staging: api-gateway healthy, orders serving the wrong version, ghost with nothing that can be judged."""
    running = start_demo("api-gateway", "orders", faults={"orders": ["wrong_version"]})
    services = {name: {"url": url} for name, url in running.urls.items()}
    write_environment(tmp_path / "environments", "staging", services)
    empty = {"environment": "staging", "defaults": {"timeout": "3s"}, "services": {}}
    (tmp_path / "environments" / "bare.yaml").write_text(json.dumps(empty))  # no service: for the 404/400 cases
    text = (tmp_path / "environments" / "staging.yaml").read_text()
    (tmp_path / "environments" / "staging.yaml").write_text(
        text + "  ghost: {url: 'http://127.0.0.1:9', health: null, ready: null, version: null}\n"
    )
    return tmp_path / "environments"


@pytest.fixture
def serve(environments, tmp_path) -> Iterator[Callable[..., Served]]:
    started: list[subprocess.Popen[str]] = []

    def start(*args: str) -> Served:
        log = tmp_path / f"serve-{len(started)}.log"
        command = [sys.executable, "-m", "deploycheck", "serve", "--port", "0", "--project", str(REPO),
                   "--environments-dir", str(environments), "--token-env", "SERVE_TEST_TOKEN",
                   *CHECKS, *args]  # fmt: skip
        with log.open("w") as sink:  # the child keeps its own copy of the file
            process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=sink, text=True, env={**os.environ, "SERVE_TEST_TOKEN": TOKEN}
            )
        started.append(process)
        assert process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            assert selector.select(timeout=20), f"the server did not start: {log.read_text()}"
        return Served(json.loads(process.stdout.readline())["listening"], log)

    yield start
    for process in started:
        process.terminate()
        process.wait(10)
        assert process.stdout is not None
        process.stdout.close()


def test_every_request_but_the_health_check_needs_the_token(serve):
    served = serve()

    assert httpx.get(f"{served.url}/healthz", timeout=5).status_code == 200
    assert served.argo("api-gateway", Authorization="").status_code == 401
    assert served.argo("api-gateway", Authorization="Bearer wrong").status_code == 401
    assert served.flagger("rollout", "api-gateway", token=None).status_code == 401
    assert served.flagger("rollout", "api-gateway", token="wrong").status_code == 401
    assert served.runs_started("staging") == 0  # refused before anything ran
    assert TOKEN not in served.log.read_text()


def test_a_server_without_its_token_does_not_start(environments):
    env = {key: value for key, value in os.environ.items() if key != "SERVE_TEST_TOKEN"}
    command = [sys.executable, "-m", "deploycheck", "serve", "--port", "0", "--token-env", "SERVE_TEST_TOKEN",
               "--environments-dir", str(environments)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=30, env=env, check=False)
    assert result.returncode == 4 and "$SERVE_TEST_TOKEN is empty or unset" in result.stderr


def test_argo_web_metric_answers_200_with_the_verdict_document(serve):
    served = serve("--answer-within", "60s")

    with ThreadPoolExecutor(3) as pool:  # runs for different services go on at the same time
        passed, failed, held = pool.map(lambda service: served.argo(service, None if service == "ghost" else "v2.3.1"),
                                        ("api-gateway", "orders", "ghost"))  # fmt: skip

    assert (passed.status_code, passed.json()["verdict"]) == (200, "PASS")
    assert passed.json()["services"]["api-gateway"]["verdict"] == "PASS"
    assert (failed.status_code, failed.json()["verdict"]) == (200, "FAIL")
    version = next(
        f for f in failed.json()["services"]["orders"]["findings"] if f["check"] == "version.matches_expected"
    )
    assert version["outcome"] == "failed" and version["observed"] == "v0.0.0-wrong"
    assert (held.status_code, held.json()["verdict"]) == (200, "INCONCLUSIVE")
    assert held.json()["reasons"] == ["ghost: no deciding check ran"]
    log = served.log.read_text()
    assert "GET /argo staging/orders@v2.3.1 -> 200 FAIL" in log and "run finished: staging/orders@v2.3.1 FAIL" in log


def test_argo_gets_inconclusive_not_an_error_when_the_run_breaks(serve):
    served = serve("--answer-within", "60s")

    broken = served.argo("no-such-service")  # the suite exits 4 (usage error) without a verdict

    assert broken.status_code == 200
    assert broken.json()["verdict"] == "INCONCLUSIVE" and "exited 4 without a verdict" in broken.json()["error"]
    assert served.argo("api-gateway", version="--rollback").status_code == 400  # never passed on as an option
    assert httpx.get(f"{served.url}/argo", params={"env": "nowhere", "service": "x"}, headers=AUTH).status_code == 404


def test_flagger_webhooks_answer_in_flaggers_terms(serve):
    served = serve("--flagger-wait", "60s")

    assert served.flagger("rollback", "orders").status_code == 409  # no verdict yet: never starts a run itself
    assert served.runs_started("staging/orders") == 0
    with ThreadPoolExecutor(3) as pool:  # the first verdicts, all at once; the other hooks read them from the cache
        list(pool.map(lambda service: served.flagger("rollout", service), ("api-gateway", "orders", "ghost")))
    answers = {
        (hook, service): served.flagger(hook, service)
        for service in ("api-gateway", "orders", "ghost")
        for hook in ("pre-rollout", "rollout", "confirm-promotion", "rollback")
    }

    statuses = {key: answer.status_code for key, answer in answers.items()}
    assert statuses == {
        ("pre-rollout", "api-gateway"): 200, ("rollout", "api-gateway"): 200,
        ("confirm-promotion", "api-gateway"): 200, ("rollback", "api-gateway"): 409,
        ("pre-rollout", "orders"): 500, ("rollout", "orders"): 500,
        ("confirm-promotion", "orders"): 409, ("rollback", "orders"): 200,
        ("pre-rollout", "ghost"): 503, ("rollout", "ghost"): 503,
        ("confirm-promotion", "ghost"): 409, ("rollback", "ghost"): 409,
    }  # fmt: skip
    assert {answer.json()["verdict"] for (_, service), answer in answers.items() if service == "orders"} == {"FAIL"}
    assert served.runs_started("staging/orders@v2.3.1") == 1  # four hooks, one run (cached)


def test_concurrent_requests_for_one_target_share_one_run(serve):
    served = serve("--answer-within", "60s", "--cache-for", "0s")

    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda _: served.argo("api-gateway"), range(3)))

    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert len({answer.json()["started_at"] + answer.json()["finished_at"] for answer in answers}) == 1
    assert served.runs_started("staging/api-gateway@v2.3.1") == 1
    served.argo("api-gateway")  # cached for 0 s: the next request is a new run
    assert served.runs_started("staging/api-gateway@v2.3.1") == 2


def test_a_run_still_going_answers_503_so_argo_asks_again(serve):
    served = serve("--answer-within", "0.2s")

    first = served.argo("api-gateway")
    assert first.status_code == 503 and first.json()["status"] == "running"
    deadline = time.monotonic() + 60
    while (answer := served.argo("api-gateway")).status_code == 503 and time.monotonic() < deadline:
        time.sleep(0.3)

    assert (answer.status_code, answer.json()["verdict"]) == (200, "PASS")
    assert served.runs_started("staging/api-gateway@v2.3.1") == 1  # the retries joined the run


def test_a_run_past_its_deadline_is_killed_and_inconclusive(serve):
    served = serve("--answer-within", "60s", "--run-timeout", "0.5s")

    answer = served.argo("api-gateway")

    assert answer.status_code == 200
    assert answer.json()["verdict"] == "INCONCLUSIVE"
    assert answer.json()["error"] == "no verdict within the run timeout of 0.5s"
