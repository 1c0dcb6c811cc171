"""The built-in `grpc` kind end to end, against a real gRPC server on loopback (grpcio's health servicer):
`grpc.serving` passes when every named gRPC service answers SERVING, and fails naming the one that does not, an
unknown one, a target nothing listens on, a Check that never answers (the deadline), and TLS without the CA."""

from __future__ import annotations

import json
import threading

import pytest

from tests.conftest import REPO, write_environment
from tests.e2e.test_team_kind import closed_port
from tests.grpc_server import SILENT, grpc_health_server
from tests.hostile_servers import TlsFiles, echo, make_certificates, serving

CHECK = [REPO / "checks" / "test_grpc.py"]
ORDERS = "orders.v1.Orders"
PAYMENTS = "payments.v1.Payments"


@pytest.fixture
def server():
    with grpc_health_server({"": "SERVING", ORDERS: "SERVING", PAYMENTS: "NOT_SERVING"}) as running:
        yield running


@pytest.fixture(scope="module")
def certificates(tmp_path_factory) -> TlsFiles:
    """A private CA and a server certificate for localhost, made with openssl."""
    return make_certificates(tmp_path_factory.mktemp("grpc-tls"))


def grpc_service(target, services, **more):
    return {"url": "http://127.0.0.1:9", "grpc": {"target": target, "services": services, "timeout": "1s", **more}}


@pytest.fixture
def http_server():
    """An HTTP/1.1 server, not a gRPC one, that echoes whatever it is sent."""
    with serving(echo) as running:
        yield running.url.removeprefix("http://")


def test_each_named_grpc_service_is_judged(server, http_server, run_suite, tmp_path, workers):
    services = {
        "not-grpc": grpc_service(http_server, [""]),
        "orders": grpc_service(server.target, ["", ORDERS]),
        "payments": grpc_service(server.target, ["", PAYMENTS]),
        "unknown": grpc_service(server.target, ["ghost.v1.Ghost"]),
        "nothing": grpc_service(f"127.0.0.1:{closed_port()}", [""]),
        "silent": grpc_service(server.target, ["", SILENT]),
        "web": {"url": "http://127.0.0.1:9"},  # no `grpc`: the check does not apply
    }
    environments = write_environment(tmp_path / "environments", "staging", services)

    results = tmp_path / "allure-results"
    run = run_suite(environments, "--env", "staging", "--alluredir", str(results), workers=workers, checks=CHECK)

    assert run.outcomes() == {
        ("orders", "grpc.serving"): "passed",
        ("payments", "grpc.serving"): "failed",
        ("unknown", "grpc.serving"): "failed",
        ("nothing", "grpc.serving"): "failed",
        ("silent", "grpc.serving"): "failed",
        ("web", "grpc.serving"): "skipped",
        ("not-grpc", "grpc.serving"): "failed",
    }, run.stdout
    finding = {name: body["findings"][0] for name, body in run.verdict["services"].items()}
    assert finding["payments"]["message"] == f"{server.target}: not serving: {PAYMENTS!r}: NOT_SERVING"
    assert finding["payments"]["observed"][""]["status"] == "SERVING"
    assert finding["payments"]["observed"][PAYMENTS]["status"] == "NOT_SERVING"
    assert finding["payments"]["observed"][PAYMENTS]["round_trip_ms"] >= 0
    assert finding["payments"]["source"]["target"] == server.target
    assert finding["payments"]["source"]["method"] == "grpc.health.v1.Health/Check"
    assert finding["orders"]["observed"][ORDERS]["status"] == "SERVING"
    assert "'ghost.v1.Ghost': unknown service" in finding["unknown"]["message"]
    assert "the server (overall): unreachable" in finding["nothing"]["message"]
    assert "the server (overall): unreachable" in finding["not-grpc"]["message"]
    assert f"{SILENT!r}: no answer within 1s" in finding["silent"]["message"]
    assert finding["silent"]["observed"][""]["status"] == "SERVING"  # the overall answer is not held up
    assert run.ret == 1, run.stdout
    # In Allure, the judgement attached to the failed test shows each named gRPC service's status.
    payments = next(
        result
        for path in results.glob("*-result.json")
        if (result := json.loads(path.read_text()))["name"].startswith("payments: grpc.serving")
    )
    judgement = next(a for a in payments["attachments"] if a["name"].startswith("judgement"))
    attached = (results / judgement["source"]).read_text()
    assert PAYMENTS in attached and "NOT_SERVING" in attached and "round_trip_ms" in attached, attached


def test_tls_with_a_private_ca(certificates, run_suite, tmp_path, workers):
    with grpc_health_server({"": "SERVING"}, tls=(certificates.server_chain, certificates.server_key)) as server:
        services = {
            "trusting": grpc_service(server.target, [""], tls={"ca_file": certificates.ca_file}),
            "untrusting": grpc_service(server.target, [""], tls={}),  # the public CAs: the private one is unknown
            "plaintext": grpc_service(server.target, [""]),
        }
        environments = write_environment(tmp_path / "environments", "staging", services)
        run = run_suite(environments, "--env", "staging", workers=workers, checks=CHECK)

    assert run.outcomes() == {
        ("trusting", "grpc.serving"): "passed",
        ("untrusting", "grpc.serving"): "failed",
        ("plaintext", "grpc.serving"): "failed",
    }, run.stdout
    untrusting = run.verdict["services"]["untrusting"]["findings"][0]
    assert "unreachable" in untrusting["message"]
    assert untrusting["source"]["tls"] is True


def test_an_empty_services_list_is_a_usage_error(run_suite, tmp_path):
    services = {"api": grpc_service("127.0.0.1:50051", [])}
    environments = write_environment(tmp_path / "environments", "staging", services)

    run = run_suite(environments, "--env", "staging", checks=CHECK)

    assert run.ret == 4, run.stdout
    assert "services.api.grpc" in run.stdout and "at least one gRPC service" in run.stdout


def test_wait_ready_waits_until_every_named_grpc_service_is_serving(server, run_suite, tmp_path):
    server.set(PAYMENTS, "NOT_SERVING")
    flip = threading.Timer(1.5, server.set, (PAYMENTS, "SERVING"))  # the rollout finishing while the suite waits
    environments = write_environment(
        tmp_path / "environments", "staging", {"payments": grpc_service(server.target, ["", PAYMENTS])}
    )
    flip.start()
    try:
        run = run_suite(environments, "--env", "staging", "--wait-ready", "20s", checks=CHECK)
    finally:
        flip.cancel()

    assert run.outcomes() == {("payments", "grpc.serving"): "passed"}, run.stdout
    assert run.verdict["services"]["payments"]["findings"][0]["observed"][PAYMENTS]["status"] == "SERVING"
