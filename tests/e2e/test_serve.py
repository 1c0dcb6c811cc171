"""`python -m deploycheck serve` against a real HTTP client: the server started as a process on loopback, its runs
the real suite against the demo. Auth, the answer forms of Argo Rollouts and Flagger, one run shared by
concurrent requests, and what a slow or broken run answers; and the server under abuse, from raw sockets: the token
before the body, lengths it refuses, slow clients cut off, connections and runs capped, names it does not know, a
run that will not stop."""

from __future__ import annotations

import json
import os
import selectors
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import REPO, write_environment
from tests.processes import descendants

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
class Answer:
    status: int
    headers: dict[str, str]
    body: dict[str, Any]
    closed: bool  # the server closed the connection after answering


@dataclass
class Served:
    url: str
    log: Path
    pid: int

    def argo(
        self, service: str, version: str | None = "v2.3.1", env: str = "staging", **headers: str
    ) -> httpx.Response:
        params = {"env": env, "service": service, **({"version": version} if version else {})}
        return httpx.get(f"{self.url}/argo", params=params, headers=headers or AUTH, timeout=60)

    def flagger(self, hook: str, service: str, token: str | None = TOKEN) -> httpx.Response:
        metadata = {"env": "staging", "version": "v2.3.1", **({"token": token} if token else {})}
        body = {"name": service, "namespace": "production", "phase": "Progressing", "metadata": metadata}
        return httpx.post(f"{self.url}/flagger/{hook}", json=body, timeout=60)

    def runs_started(self, target: str) -> int:
        return self.log.read_text().count(f"run started: {target}")

    def connect(self) -> socket.socket:
        host, port = self.url.removeprefix("http://").rsplit(":", 1)
        return socket.create_connection((host, int(port)), timeout=10)

    def raw(self, head: str, body: bytes = b"") -> Answer:
        """Send a request exactly as written (CRLF added), and read the answer and whether the server then closed."""
        with self.connect() as connection:
            connection.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
            return read_answer(connection)

    def threads(self) -> int:
        status = Path(f"/proc/{self.pid}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("Threads:")))


def read_answer(connection: socket.socket) -> Answer:
    data = b""
    while b"\r\n\r\n" not in data:
        data += connection.recv(65536) or b"\r\n\r\n"  # closed with no answer: an empty one, which fails below
    head, rest = data.split(b"\r\n\r\n", 1)
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, value in (line.split(":", 1) for line in lines)}
    while len(rest) < int(headers.get("content-length", 0)):
        rest += connection.recv(65536)
    try:
        closed = connection.recv(1) == b""
    except TimeoutError:
        closed = False
    return Answer(int(status_line.split()[1]), headers, json.loads(rest), closed)


def until(condition: Callable[[], Any], seconds: float = 20.0) -> Any:
    """Poll `condition` until it is true (returning it), or fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while not (value := condition()):
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)
    return value


@pytest.fixture
def environments(start_demo, tmp_path) -> Iterator[Path]:
    """staging: api-gateway healthy, orders serving the wrong version, ghost with nothing that can be judged, and
    stalled, which takes every request and never answers (a run that asks it is surely going for a minute)."""
    stalled = socket.create_server(("127.0.0.1", 0), backlog=64)  # connections complete in the backlog, unread
    stalled_url = f"http://127.0.0.1:{stalled.getsockname()[1]}"
    running = start_demo("api-gateway", "orders", faults={"orders": ["wrong_version"]})
    services = {name: {"url": url} for name, url in running.urls.items()}
    write_environment(tmp_path / "environments", "staging", services)
    empty = {"environment": "staging", "defaults": {"timeout": "3s"}, "services": {}}
    (tmp_path / "environments" / "bare.yaml").write_text(json.dumps(empty))  # no service: for the 404/400 cases
    text = (tmp_path / "environments" / "staging.yaml").read_text()
    (tmp_path / "environments" / "staging.yaml").write_text(
        text
        + "  ghost: {url: 'http://127.0.0.1:9', health: null, ready: null, version: null}\n"
        + f"  stalled: {{url: '{stalled_url}', timeout: 60s, ready: null, version: null}}\n"
    )
    # A service the server knows, whose run stops at once on a bad setting (a usage error: no verdict).
    broken = {"environment": "broken", "services": {"api": {"url": "http://127.0.0.1:9", "timeout": "forever"}}}
    (tmp_path / "environments" / "broken.yaml").write_text(json.dumps(broken))
    (tmp_path / "environments" / "garbled.yaml").write_text("services: [\n")  # not even YAML
    with stalled:
        yield tmp_path / "environments"


@pytest.fixture
def serve(environments, tmp_path) -> Iterator[Callable[..., Served]]:
    started: list[subprocess.Popen[str]] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Served:
        log = tmp_path / f"serve-{len(started)}.log"
        command = [sys.executable, "-m", "deploycheck", "serve", "--port", "0", "--project", str(REPO),
                   "--environments-dir", str(environments), "--token-env", "SERVE_TEST_TOKEN",
                   *CHECKS, *args]  # fmt: skip
        variables = {**os.environ, "SERVE_TEST_TOKEN": TOKEN, **(env or {})}
        with log.open("w") as sink:  # the child keeps its own copy of the file
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=sink, text=True, env=variables)
        started.append(process)
        assert process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            assert selector.select(timeout=20), f"the server did not start: {log.read_text()}"
        return Served(json.loads(process.stdout.readline())["listening"], log, process.pid)

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
    served = serve("--answer-within", "60s", "--max-runs", "3")

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
    until(lambda: descendants(served.pid) == [])  # nothing a run started outlives it


def test_argo_gets_inconclusive_not_an_error_when_the_run_breaks(serve):
    served = serve("--answer-within", "60s")

    broken = served.argo("api", env="broken")  # the suite exits 4 (usage error: a bad timeout) without a verdict

    assert broken.status_code == 200
    assert broken.json()["verdict"] == "INCONCLUSIVE" and "exited 4 without a verdict" in broken.json()["error"]
    assert served.argo("api-gateway", version="--rollback").status_code == 400  # never passed on as an option
    unreadable = served.argo("api", env="garbled")  # an environment file that is not YAML: a hold, and no run
    assert (unreadable.status_code, unreadable.json()["verdict"]) == (200, "INCONCLUSIVE")
    assert unreadable.json()["error"] == "the environment file of garbled cannot be read (see the server's log)"
    assert served.runs_started("garbled") == 0


def test_flagger_webhooks_answer_in_flaggers_terms(serve):
    served = serve("--flagger-wait", "60s", "--max-runs", "3")

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


# -- under abuse -------------------------------------------------------------------------------------------------

# A run that will not stop: it ignores SIGTERM, starts a child that ignores it too, and hangs (a cleanup that hangs on
# a dead server, say). A sitecustomize, so that it holds from the interpreter's first instant, however early the
# deadline comes; only in the runs (`python -m pytest`), not in the server.
STUBBORN_RUN = """
import signal, subprocess, sys, time
from pathlib import Path

if sys.orig_argv[1:3] == ["-m", "pytest"]:
    deaf = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(300)"
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child = subprocess.Popen([sys.executable, "-c", deaf])
    Path("{pid_file}").write_text(str(child.pid))
    time.sleep(300)
"""


def test_the_token_is_checked_before_the_body_is_read(serve):
    served = serve()
    gigabyte = "Content-Length: 1000000000\n"

    answers = [
        served.raw(f"POST /flagger/rollout HTTP/1.1\nHost: x\nAuthorization: Bearer wrong\n{gigabyte}"),
        served.raw(f"POST /flagger/rollout HTTP/1.1\nHost: x\nAuthorization: Basic {TOKEN}\n{gigabyte}"),
        served.raw(f"GET /argo?env=staging&service=api-gateway HTTP/1.1\nHost: x\n{gigabyte}"),
    ]  # none of them sent a byte of its body: each is answered from the head alone

    for answer in answers:
        assert (answer.status, answer.body) == (
            401,
            {"error": "a bearer token is needed (Authorization: Bearer <token>)"},
        )
        assert answer.closed  # the body it announced is never read as a next request
    # Flagger sends its token in the body; without a header, the length is judged first: nothing over 64 KiB is read.
    flagger = served.raw(f"POST /flagger/rollout HTTP/1.1\nHost: x\n{gigabyte}")
    assert (flagger.status, flagger.closed) == (413, True)
    assert served.runs_started("staging") == 0
    assert TOKEN not in served.log.read_text()


FRAMINGS = {  # how the body is announced -> what the server answers, without reading any of it
    "Content-Length: -1": (400, "Content-Length must be a number of bytes from 0 up"),
    "Content-Length: abc": (400, "Content-Length must be a number of bytes from 0 up"),
    "Content-Length: +5": (400, "Content-Length must be a number of bytes from 0 up"),
    "Content-Length: 5\nContent-Length: 5": (400, "more than one Content-Length"),
    "Content-Length: 65537": (413, "the body is over 65536 bytes"),
    "Transfer-Encoding: chunked": (411, "send the body with a Content-Length, not a Transfer-Encoding"),
}


def test_a_body_length_outside_0_to_the_limit_is_refused_unread(serve):
    served = serve()

    answers = {
        framing: served.raw(f"POST /flagger/rollout HTTP/1.1\nHost: x\nAuthorization: Bearer {TOKEN}\n{framing}\n")
        for framing in FRAMINGS
    }

    assert {framing: (answer.status, answer.body["error"]) for framing, answer in answers.items()} == FRAMINGS
    assert all(answer.closed and answer.headers["content-type"] == "application/json" for answer in answers.values())


def test_what_the_http_layer_refuses_is_json_too(serve):
    served = serve()

    garbled = served.raw("GARBAGE\n")
    too_many = served.raw("GET /healthz HTTP/1.1\n" + "X-A: b\n" * 101)
    too_long = served.raw("GET /healthz HTTP/1.1\n" + "X-A: b\n" * 50 + f"X-B: {'b' * 50_000}\n")

    assert (garbled.status, garbled.body) == (400, {"error": "Bad request syntax ('GARBAGE')"})
    assert (too_many.status, too_many.body) == (431, {"error": "Too many headers"})
    assert (too_long.status, too_long.body) == (431, {"error": "the request line and headers are over 32768 bytes"})
    assert garbled.closed and too_many.closed and too_long.closed


def test_what_a_client_sends_is_never_echoed_with_the_token_in_it(serve):
    served = serve()

    named = served.argo(TOKEN)  # a valid name, not a service
    garbled = served.raw(f"GET /argo?token={TOKEN} HTTP/1.1 and more\n")

    assert (named.status_code, named.json()) == (404, {"error": "no service '***' in environment 'staging'"})
    assert (garbled.status, garbled.body) == (400, {"error": "Bad request version ('more')"})  # what it echoes
    garbled = served.raw(f"GET /argo?token={TOKEN}\n")  # HTTP/0.9 form: refused, echoing the line, masked
    assert TOKEN not in json.dumps(garbled.body) and TOKEN not in served.log.read_text()


def test_a_slow_client_is_cut_off_at_the_read_timeout(serve):
    served = serve("--read-timeout", "1s")

    with served.connect() as slowloris:  # a byte every 0.2 s: each read is quick, the request never ends
        started = time.monotonic()
        with pytest.raises(OSError):  # reset or broken pipe, once the server has closed
            for byte in f"GET /argo?env=staging&service=api-gateway HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\n" * 9:
                slowloris.send(byte.encode())
                time.sleep(0.2)  # the client's pace, not a synchronisation
        assert 1.0 <= time.monotonic() - started < 3.0
    with served.connect() as slow_body:  # the head in time, the body never
        slow_body.sendall(b"POST /flagger/rollout HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        answer = read_answer(slow_body)
    assert (answer.status, answer.body, answer.closed) == (
        408,
        {"error": "the body took longer than the read timeout"},
        True,
    )
    with served.connect() as idle:  # nothing at all
        started = time.monotonic()
        assert idle.recv(1) == b"" and time.monotonic() - started < 3.0


def test_connections_beyond_the_cap_get_503_and_threads_do_not_outlive_the_read_timeout(serve):
    served = serve("--read-timeout", "1s", "--max-connections", "4")

    held = [served.connect() for _ in range(4)]  # accepted in order: these take every place
    with served.connect() as fifth:
        answer = read_answer(fifth)
    assert (answer.status, answer.headers["retry-after"], answer.closed) == (503, "1", True)
    assert answer.body == {"error": "too many connections; ask again later"}
    assert served.threads() <= 1 + 4  # the main thread, one per connection
    for connection in held:
        connection.close()
    swarm = [served.connect() for _ in range(200)]  # 196 of them refused, 4 cut off after 1 s
    until(lambda: served.threads() == 1, seconds=5)  # back to the main thread alone
    for connection in swarm:
        connection.close()
    assert httpx.get(f"{served.url}/healthz", timeout=5).status_code == 200


def test_unknown_environments_and_services_answer_404_and_start_nothing(serve, environments):
    served = serve("--answer-within", "60s")

    unknown_service = served.argo("no-such-service")
    unknown_env = served.argo("api-gateway", env="nowhere")
    flagger = served.flagger("rollout", "no-such-service")
    with ThreadPoolExecutor(8) as pool:  # a burst of made-up names
        burst = list(pool.map(lambda i: served.argo(f"made-up-{i}").status_code, range(40)))

    assert (unknown_service.status_code, unknown_service.json()) == (
        404, {"error": "no service 'no-such-service' in environment 'staging'"}
    )  # fmt: skip
    assert (unknown_env.status_code, unknown_env.json()) == (404, {"error": "no environment 'nowhere'"})
    assert flagger.status_code == 404 and burst == [404] * 40
    assert descendants(served.pid) == [] and served.runs_started("") == 0  # not one process started
    # The files are read again when they change: a service added now is known at the next request.
    with (environments / "staging.yaml").open("a") as file:
        file.write("  added-later: {url: 'http://127.0.0.1:9', health: null, ready: null, version: null}\n")
    added = served.argo("added-later", version=None)
    assert (added.status_code, added.json()["verdict"]) == (200, "INCONCLUSIVE")
    assert added.json()["reasons"] == ["added-later: no deciding check ran"]


def test_runs_beyond_the_cap_answer_503_with_retry_after(serve):
    served = serve("--max-runs", "1", "--answer-within", "0.1s")

    first = served.argo("api-gateway")
    second = served.argo("orders")

    assert (first.status_code, first.json()["status"]) == (503, "running")
    assert (second.status_code, second.headers["Retry-After"]) == (503, "5")
    assert second.json() == {"error": "1 runs are going on, the most this server starts at once (--max-runs)"}
    assert served.runs_started("staging/orders") == 0
    assert until(lambda: served.argo("api-gateway").status_code == 200)  # the slot is free again
    assert until(lambda: (answer := served.argo("orders")).status_code == 200 and answer).json()["verdict"] == "FAIL"


def test_a_run_past_its_deadline_gets_sigterm_and_is_inconclusive(serve, workers):
    served = serve("--answer-within", "60s", "--run-timeout", "1.5s", "--run-grace", "20s",
                   *(["--pytest-arg=-n", f"--pytest-arg={workers}"] if workers else []))  # fmt: skip
    started = time.monotonic()

    answer = served.argo("stalled")  # its health check waits a minute for an answer: the run is going at 1.5 s

    assert answer.status_code == 200 and answer.json()["verdict"] == "INCONCLUSIVE"
    assert answer.json()["stopped"].startswith("sent SIGTERM at the run timeout of 1.5s; it ended ")
    assert time.monotonic() - started < 15  # it stopped on SIGTERM: the grace period was not waited out
    assert "run stopped: staging/stalled@v2.3.1: sent SIGTERM" in served.log.read_text()
    until(lambda: descendants(served.pid) == [], 5)  # its workers too, if it left any


def test_a_run_that_ignores_sigterm_is_killed_with_its_process_group_after_the_grace_period(serve, tmp_path):
    pid_file = tmp_path / "grandchild.pid"
    (tmp_path / "sitecustomize.py").write_text(STUBBORN_RUN.format(pid_file=pid_file))
    served = serve("--answer-within", "60s", "--run-timeout", "1s", "--run-grace", "1s",
                   env={"PYTHONPATH": str(tmp_path)})  # fmt: skip
    started = time.monotonic()

    answer = served.argo("api-gateway")

    assert answer.status_code == 200
    assert answer.json() == {
        "verdict": "INCONCLUSIVE",
        "action": "hold",
        "error": "no verdict within the run timeout of 1s",
        "target": "staging/api-gateway@v2.3.1",
        "stopped": "sent SIGTERM at the run timeout of 1s; still running after the grace period of 1s: killed "
        "(SIGKILL to its process group)",
    }
    assert time.monotonic() - started >= 2.0  # the grace period was given
    grandchild = int(pid_file.read_text())
    until(
        lambda: (
            not Path(f"/proc/{grandchild}").exists() or "State:\tZ" in Path(f"/proc/{grandchild}/status").read_text()
        ),
        5,
    )
    assert descendants(served.pid) == []
