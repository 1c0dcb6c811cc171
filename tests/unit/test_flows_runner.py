"""The flow runner against a real HTTP server on loopback that answers from a script: what a step checks, when it
is retried (only when idempotent), how it polls, and that cleanups always run and say what they left."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from deploycheck.findings import Outcome
from deploycheck.flows.runner import FlowSession, StepFailed


class Script:
    """Answers per (method, path): a list of (status, body) used in turn, the last one repeated."""

    def __init__(self) -> None:
        self.answers: dict[tuple[str, str], list[tuple[int, object]]] = {}
        self.hits: list[tuple[str, str, dict[str, str]]] = []

    def answer(self, method: str, path: str, *answers: tuple[int, object]) -> None:
        self.answers[(method, path)] = list(answers)


@pytest.fixture
def server() -> Iterator[tuple[str, Script]]:
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def handle_one(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            self.rfile.read(length)
            script.hits.append((self.command, self.path, dict(self.headers)))
            answers = script.answers.get((self.command, self.path), [(404, {"error": "no such route"})])
            status, body = answers.pop(0) if len(answers) > 1 else answers[0]
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = handle_one

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", script
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def session(server) -> Iterator[FlowSession]:
    url, _ = server
    secrets: list[str] = []
    with httpx.Client(base_url=url, timeout=2) as client:
        flow = FlowSession("orders", client, on_secret=secrets.append, source={"service": "api"})
        flow.secrets = secrets  # type: ignore[attr-defined]
        yield flow


def test_a_step_checks_status_fields_and_records_the_relevant_part(server, session):
    _, script = server
    script.answer("POST", "/orders", (201, {"id": "o1", "status": "pending", "items": [{"sku": "A1"}]}))

    response = session.step("create", "POST", "/orders", json={}, expect=201, fields={"items.0.sku": "A1"})

    assert response.json()["id"] == "o1"
    record = session.records[0].to_dict()
    assert record["request"] == "POST /orders" and record["status"] == 201 and record["passed"]
    assert record["answer"] == {"items.0.sku": "A1"}
    assert session.finding().outcome is Outcome.PASSED


def test_a_wrong_answer_fails_the_step_naming_it_and_what_came_back(server, session):
    _, script = server
    script.answer("GET", "/orders/o1", (404, {"error": "order not found"}))

    with pytest.raises(StepFailed, match=r"step 'read it back': GET /orders/o1 answered 404, expected 200"):
        session.step("read it back", "GET", "/orders/o1")

    finding = session.finding()
    assert finding.outcome is Outcome.FAILED
    assert finding.observed["steps"][0]["answer"]["body"] == {"error": "order not found"}


def test_a_field_that_differs_is_said(server, session):
    _, script = server
    script.answer("GET", "/report", (200, {"rows": 0}))

    with pytest.raises(StepFailed, match=r"answered rows=0, expected rows=1"):
        session.step("report", "GET", "/report", fields={"rows": 1})


def test_only_idempotent_steps_are_retried(server, session):
    _, script = server
    script.answer("GET", "/flaky", (503, {}), (200, {"ok": True}))
    script.answer("POST", "/pay", (503, {}), (201, {}))
    script.answer("POST", "/pay-once", (503, {}), (201, {}))

    assert session.step("read", "GET", "/flaky").status_code == 200
    assert session.records[-1].attempts == 2
    with pytest.raises(StepFailed, match="answered 503"):
        session.step("pay", "POST", "/pay", expect=201)  # no key: a retry could charge twice
    assert session.records[-1].attempts == 1
    keyed = session.step("pay", "POST", "/pay-once", headers={"Idempotency-Key": "k1"}, expect=201)
    assert keyed.status_code == 201 and session.records[-1].attempts == 2
    sent = [(method, path, headers.get("Idempotency-Key")) for method, path, headers in script.hits]
    assert sent.count(("POST", "/pay-once", "k1")) == 2


def test_until_polls_the_step_until_the_answer_is_ready_or_the_time_is_up(server, session):
    _, script = server
    script.answer("GET", "/job", (200, {"status": "pending"}), (200, {"status": "pending"}), (200, {"status": "done"}))
    script.answer("GET", "/stuck", (200, {"status": "pending"}))

    session.step("wait", "GET", "/job", until={"status": "done"}, within=2)
    started = time.monotonic()
    with pytest.raises(StepFailed, match=r"still status=\"pending\" after 0.3 s, expected status=\"done\""):
        session.step("wait", "GET", "/stuck", until={"status": "done"}, within=0.3)
    assert 0.3 <= time.monotonic() - started < 2


def test_a_latency_limit_is_a_failure(server, session):
    _, script = server
    script.answer("GET", "/slow", (200, {}))

    with pytest.raises(StepFailed, match=r"took \d+ ms, limit 0.001 ms"):
        session.step("slow", "GET", "/slow", max_ms=0.001)


def test_cleanups_run_newest_first_after_a_failure_and_say_what_they_left(server, session):
    _, script = server
    script.answer("DELETE", "/orders/o1", (500, {"error": "boom"}))
    script.answer("DELETE", "/payments/p1", (204, {}))
    script.answer("POST", "/payments", (500, {}))
    session.add_cleanup("delete the order", "DELETE", "/orders/o1")
    session.add_cleanup("refund the payment", "DELETE", "/payments/p1")

    with pytest.raises(StepFailed):
        session.step("pay", "POST", "/payments", expect=201)
    left = session.run_cleanups()

    assert [hit[:2] for hit in script.hits[-2:]] == [("DELETE", "/payments/p1"), ("DELETE", "/orders/o1")]
    assert left == ["'delete the order': DELETE /orders/o1 answered 500, expected 200 or 202 or 204 or 404"]
    finding = session.finding()
    assert finding.message.startswith("flow orders: step 'pay': POST /payments answered 500")  # still the cause
    assert "cleanup failed, left behind: 'delete the order'" in finding.message


def test_secrets_in_answers_are_masked_and_reported(server, session):
    _, script = server
    script.answer("POST", "/token", (200, {"access_token": "tok-123456", "token_type": "bearer"}))

    saved = session.save(
        session.step("log in", "POST", "/token", fields={"token_type": "bearer"}), {"token": "access_token"}, "log in"
    )

    assert saved == {"token": "tok-123456"}
    assert "tok-123456" in session.secrets  # type: ignore[attr-defined]
    assert "tok-123456" not in json.dumps(session.finding().to_dict())


def test_a_service_that_does_not_answer_fails_the_step():
    with socket.socket() as reserved:
        reserved.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        url = f"http://127.0.0.1:{reserved.getsockname()[1]}"
        with httpx.Client(base_url=url, timeout=1) as client:
            flow = FlowSession("login", client)
            with pytest.raises(StepFailed, match=r"got no answer: could not connect"):
                flow.step("log in", "POST", "/token")
    assert flow.finding().outcome is Outcome.FAILED
