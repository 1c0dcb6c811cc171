"""The HTTP probe against real servers: the demo services, and hostile ones (tests/hostile_servers.py) that drip,
flood, reset, refuse, answer with an HTML error page or speak TLS with a private CA."""

from __future__ import annotations

import json
import socket
import threading
import time
import tracemalloc

import pytest

from deploycheck.evidence.base import Evidence
from deploycheck.kinds.http.session import MAX_BODY_BYTES, HttpRequest, HttpResponse, TlsOptions, fetch_all
from tests.hostile_servers import HUGE_BODY_BYTES, TlsServer, read_request, serving

pytest_plugins = ["tests.hostile_servers"]

DEADLINE_MARGIN_S = 0.5


def fetch(request: HttpRequest) -> Evidence:
    return fetch_all([request])[0]


def answer(evidence: Evidence) -> HttpResponse:
    assert evidence.ok, evidence.error
    assert isinstance(evidence.value, HttpResponse)
    return evidence.value


# ---------------------------------------------------------------------------------------------------------------
# Demo services


def test_evidence_comes_back_in_order_with_its_timing(start_demo):
    running = start_demo("a", "b", faults={"b": ["unhealthy"]})
    requests = [HttpRequest("GET", running.urls[name] + "/health", 5.0) for name in ("a", "b", "a")]
    evidence = fetch_all(requests)

    assert [answer(e).status for e in evidence] == [200, 503, 200]
    assert answer(evidence[1]).json["status"] == "unhealthy"
    assert all(e.elapsed_ms > 0 and e.attempts == 1 for e in evidence)
    assert evidence[0].source == {
        "kind": "http",
        "method": "GET",
        "url": running.urls["a"] + "/health",
        "timeout_s": 5.0,
        "headers": [],
    }


def test_a_slow_answer_times_out_saying_where(start_demo):
    running = start_demo("a", latency_ms=1000)
    evidence = fetch(HttpRequest("GET", running.urls["a"] + "/health", 0.2))
    assert evidence.value is None
    assert evidence.error == "no answer within 0.2s (waiting for the response headers)"


def test_refused_and_invalid_targets_are_evidence_not_exceptions(start_demo):
    running = start_demo("a", faults={"a": ["down"]})
    refused, no_host, not_http = fetch_all(
        [
            HttpRequest("GET", running.urls["a"] + "/health", 2.0),
            HttpRequest("GET", "http://", 2.0),
            HttpRequest("GET", "ftp://example.com/", 2.0),
        ]
    )
    assert (refused.value, refused.error) == (None, "connection refused")
    assert no_host.error == "invalid URL: no host"
    assert not_http.error == "invalid URL: it must start with http:// or https://"


# ---------------------------------------------------------------------------------------------------------------
# The deadline bounds the whole request


@pytest.mark.parametrize(
    ("server", "where"),
    [
        ("dripping_body_server", "reading the body after 1 B"),
        ("dripping_headers_server", "waiting for the response headers"),
    ],
)
def test_a_dripping_server_cannot_outlast_the_timeout(request, server, where):
    url = request.getfixturevalue(server)
    started = time.monotonic()
    evidence = fetch(HttpRequest("GET", url + "/health", 1.0))
    took = time.monotonic() - started

    assert evidence.error == f"no answer within 1s ({where})"
    assert evidence.value is None
    assert took < 1.0 + DEADLINE_MARGIN_S


def test_one_dripping_server_does_not_hold_back_the_others(dripping_body_server, echo_server):
    started = time.monotonic()
    dripping, healthy = fetch_all(
        [HttpRequest("GET", dripping_body_server, 1.0), HttpRequest("GET", echo_server + "/health", 1.0)]
    )
    assert time.monotonic() - started < 1.0 + DEADLINE_MARGIN_S
    assert dripping.error is not None and dripping.error.startswith("no answer within 1s")
    assert answer(healthy).status == 200 and healthy.elapsed_ms < 500


# ---------------------------------------------------------------------------------------------------------------
# The body cap


@pytest.mark.parametrize("server", ["huge_body_server", "huge_chunked_body_server"])
def test_a_huge_body_is_capped_quickly_in_little_memory(request, server):
    url = request.getfixturevalue(server)
    tracemalloc.start()
    try:
        started = time.monotonic()
        evidence = fetch(HttpRequest("GET", url + "/health", 10.0))
        took = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    response = answer(evidence)
    assert took < 2.0
    assert peak < 50 * 1024 * 1024
    assert response.status == 200 and response.truncated
    assert len(response.body) == MAX_BODY_BYTES and response.body.startswith('{"status": "healthy"')
    assert response.json is None  # never half-parsed, although the whole would say healthy
    if server == "huge_body_server":
        assert response.size == HUGE_BODY_BYTES  # as announced by Content-Length
    else:
        assert MAX_BODY_BYTES < response.size < 2 * MAX_BODY_BYTES  # as read


def test_an_html_error_page_is_an_answer_with_its_status(html_error_server):
    response = answer(fetch(HttpRequest("GET", html_error_server + "/health", 2.0)))
    assert response.status == 500
    assert "<title>500 Internal Server Error</title>" in response.body
    assert response.json is None and not response.truncated
    assert response.headers["content-type"] == "text/html; charset=utf-8"


# ---------------------------------------------------------------------------------------------------------------
# Errors in plain words


def test_a_reset_connection_says_so(reset_server):
    evidence = fetch(HttpRequest("GET", reset_server + "/health", 2.0))
    assert (evidence.value, evidence.error) == (None, "connection reset by peer")


def test_a_refused_connection_says_so(refused_server):
    assert fetch(HttpRequest("GET", refused_server + "/health", 2.0)).error == "connection refused"


def test_a_host_that_does_not_resolve_says_so():
    evidence = fetch(HttpRequest("GET", "http://no-such-host.invalid/health", 5.0))
    assert evidence.error == "cannot resolve host no-such-host.invalid"


def test_a_server_that_hangs_up_without_answering_says_so():
    def hang_up(connection: socket.socket, stop: threading.Event) -> None:
        read_request(connection)

    with serving(hang_up) as server:
        evidence = fetch(HttpRequest("GET", server.url + "/health", 2.0))
    assert evidence.error == "the server closed the connection without answering"


@pytest.mark.parametrize(
    ("raw", "outcome"),
    [
        (b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"status": "ok"}', "cut"),
        (b'HTTP/1.0 200 OK\r\n\r\n{"status": "ok"}', "complete"),  # no length: the body ends with the connection
    ],
    ids=["cut-short", "ends-with-connection"],
)
def test_a_body_is_complete_only_when_the_server_says_so(raw, outcome):
    def answer_and_close(connection: socket.socket, stop: threading.Event) -> None:
        read_request(connection)
        connection.sendall(raw)

    with serving(answer_and_close) as server:
        evidence = fetch(HttpRequest("GET", server.url, 2.0))
    if outcome == "cut":
        assert evidence.error == "the server closed the connection in the middle of the body (after 16 B)"
    else:
        assert answer(evidence).json == {"status": "ok"}


def test_response_headers_are_lower_case_without_cookies():
    def with_headers(connection: socket.socket, stop: threading.Event) -> None:
        read_request(connection)
        connection.sendall(
            b"HTTP/1.1 200 OK\r\nX-Build: 42\r\nSet-Cookie: session=abc\r\nVary: a\r\nVary: b\r\n"
            b"Content-Length: 2\r\n\r\n{}"
        )

    with serving(with_headers) as server:
        response = answer(fetch(HttpRequest("GET", server.url, 2.0)))
    assert response.headers == {"x-build": "42", "vary": "a, b", "content-length": "2"}
    assert (response.json, response.size, response.truncated) == ({}, 2, False)


# ---------------------------------------------------------------------------------------------------------------
# TLS


def test_an_untrusted_certificate_is_a_tls_error(tls_server: TlsServer):
    evidence = fetch(HttpRequest("GET", tls_server.url + "/health", 2.0))
    assert evidence.error == "TLS: certificate verify failed: self-signed certificate in certificate chain"


def test_a_private_ca_is_trusted_through_ca_file(tls_server: TlsServer):
    request = HttpRequest("GET", tls_server.url + "/health", 2.0, tls=TlsOptions(ca_file=tls_server.ca_file))
    assert answer(fetch(request)).json["path"] == "/health"
    assert fetch(request).source["tls"] == {"verify": True, "ca_file": tls_server.ca_file, "cert_file": None}


@pytest.mark.parametrize("variable", ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"])
def test_a_private_ca_is_trusted_through_the_environment(tls_server: TlsServer, monkeypatch, variable):
    for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):  # either one alone (SSL_CERT_FILE wins when both are set)
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, tls_server.ca_file)
    assert answer(fetch(HttpRequest("GET", tls_server.url + "/health", 2.0))).status == 200


def test_verification_can_be_switched_off(tls_server: TlsServer):
    request = HttpRequest("GET", tls_server.url + "/health", 2.0, tls=TlsOptions(verify=False))
    assert answer(fetch(request)).status == 200


def test_a_client_certificate_is_presented_when_required(mtls_server: TlsServer):
    trusted = TlsOptions(ca_file=mtls_server.ca_file)
    with_cert = TlsOptions(mtls_server.ca_file, mtls_server.cert_file, mtls_server.key_file)
    refused, accepted = fetch_all(
        [HttpRequest("GET", mtls_server.url, 2.0, tls=trusted), HttpRequest("GET", mtls_server.url, 2.0, tls=with_cert)]
    )
    assert refused.error == "TLS: tlsv13 alert certificate required"
    assert answer(accepted).status == 200


def test_a_missing_ca_file_is_a_tls_error_without_traffic(tls_server: TlsServer, tmp_path):
    missing = str(tmp_path / "missing.pem")
    evidence = fetch(HttpRequest("GET", tls_server.url, 2.0, tls=TlsOptions(ca_file=missing)))
    assert evidence.error == f"TLS: cannot use CA file {missing}: No such file or directory"


# ---------------------------------------------------------------------------------------------------------------
# Requests and secrets


def test_headers_and_json_are_sent(echo_server):
    request = HttpRequest(
        "POST", echo_server + "/v1/login?x=1", 2.0, json={"user": "demo"}, headers={"X-Api-Key": "k1"}
    )
    echoed = answer(fetch(request)).json
    assert (echoed["method"], echoed["path"]) == ("POST", "/v1/login?x=1")
    assert echoed["headers"]["x-api-key"] == "k1"
    assert echoed["headers"]["content-type"] == "application/json"
    assert json.loads(echoed["body"]) == {"user": "demo"}


def test_the_url_password_is_sent_as_basic_auth(echo_server):
    url = echo_server.replace("http://", "http://user:pa55word@")
    echoed = answer(fetch(HttpRequest("GET", url, 2.0))).json
    assert echoed["headers"]["authorization"] == "Basic dXNlcjpwYTU1d29yZA=="


def test_no_header_value_or_url_password_shows_anywhere(refused_server):
    url = refused_server.replace("http://", "http://user:pa55word@") + "/health"
    request = HttpRequest(
        "GET", url, 2.0, json={"password": "hunter22"}, headers={"Authorization": "Bearer t0k3n-v4lue"}
    )
    bad_header = HttpRequest("GET", url, 2.0, headers={"X-Key": "s3cr3t\r\nInjected: 1"})
    evidence = fetch_all([request, bad_header])

    shown = " ".join([repr(request), repr(bad_header), json.dumps(request.describe()), *map(repr, evidence)])
    for secret in ("pa55word", "hunter22", "t0k3n-v4lue", "s3cr3t"):
        assert secret not in shown
    assert "user:***@" in repr(request) and "'Authorization': '***'" in repr(request)
    assert evidence[0].error == "connection refused"
    assert evidence[1].error is not None and evidence[1].error.startswith("invalid request: ")


# ---------------------------------------------------------------------------------------------------------------
# Scale


def test_two_hundred_concurrent_requests_to_one_server_all_complete(echo_server):
    evidence = fetch_all([HttpRequest("GET", f"{echo_server}/item/{i}", 10.0) for i in range(200)])
    assert [answer(e).json["path"] for e in evidence] == [f"/item/{i}" for i in range(200)]
