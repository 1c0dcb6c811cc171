"""Tests of the bundled demo services, run as a real `python -m demo` process."""

from __future__ import annotations

import asyncio
import json
import math
import queue
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

from tests.polling import until

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 15.0


@dataclass
class Demo:
    proc: subprocess.Popen[str]
    info: dict[str, Any]
    stderr_path: Path

    @property
    def admin(self) -> str:
        return self.info["admin"]

    def url(self, service: str) -> str:
        return self.info["services"][service]

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


def launch(*args: str, timeout: float = START_TIMEOUT) -> Demo:
    """Start `python -m demo ARGS` and wait for its JSON line."""
    with tempfile.NamedTemporaryFile("w", prefix="demo-stderr-", suffix=".log", delete=False) as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "demo", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(proc.stdout.readline()), daemon=True).start()  # type: ignore[union-attr]
    try:
        line = lines.get(timeout=timeout)
        info = json.loads(line)
    except (queue.Empty, ValueError):
        proc.kill()
        proc.wait()
        pytest.fail(f"demo did not print its JSON line; stderr:\n{Path(err.name).read_text()}")
    return Demo(proc, info, Path(err.name))


def stop(demo: Demo) -> None:
    if demo.proc.poll() is None:
        demo.proc.kill()
        demo.proc.wait(timeout=5)
    demo.proc.stdout.close()  # type: ignore[union-attr]
    demo.stderr_path.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def demo() -> Iterator[Demo]:
    d = launch("api-gateway", "orders", "--fault", "orders=wrong_version")
    yield d
    stop(d)


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    # No keep-alive: every request opens a fresh connection, so `down` is seen
    # as "connection refused" rather than a stale pooled socket.  trust_env=False
    # keeps proxy settings of the environment away from loopback.
    with httpx.Client(timeout=5, trust_env=False, limits=httpx.Limits(max_keepalive_connections=0)) as client:
        yield client


@pytest.fixture
def faults(demo: Demo, http: httpx.Client) -> Iterator[Any]:
    """set_faults(service, modes) via the admin API; restores the initial modes afterwards."""
    initial = http.get(f"{demo.admin}/faults").json()["faults"]

    def set_faults(service: str, modes: list[str]) -> None:
        r = http.post(f"{demo.admin}/faults/{service}", json={"modes": modes})
        assert r.status_code == 200, r.text
        assert r.json() == {"service": service, "modes": sorted(modes)}

    yield set_faults
    for service, modes in initial.items():
        http.post(f"{demo.admin}/faults/{service}", json={"modes": modes}).raise_for_status()


# --- metrics, read with prometheus_client's own parser -----------------------------

Samples = list[tuple[str, dict[str, str], float]]


def parse_metrics(text: str) -> Samples:
    return [(s.name, dict(s.labels), s.value) for f in text_string_to_metric_families(text) for s in f.samples]


def metric_value(samples: Samples, name: str, **labels: str) -> float:
    """Value of the sample with exactly these labels (0 if absent)."""
    return next((v for n, lab, v in samples if n == name and lab == labels), 0.0)


def scrape(http: httpx.Client, base: str) -> Samples:
    r = http.get(f"{base}/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse_metrics(r.text)


def login(http: httpx.Client, base: str) -> dict[str, str]:
    r = http.post(f"{base}/v1/auth/login", json={"username": "demo", "password": "demo"})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


# --- process contract ------------------------------------------------------------


def test_json_line(demo: Demo) -> None:
    assert demo.info["pid"] == demo.proc.pid
    assert set(demo.info["services"]) == {"api-gateway", "orders"}
    urls = [*demo.info["services"].values(), demo.admin]
    assert all(re.fullmatch(r"http://127\.0\.0\.1:\d+", u) for u in urls), urls
    assert len(set(urls)) == 3


def test_health_ready_version(demo: Demo, http: httpx.Client) -> None:
    gw = demo.url("api-gateway")
    for path in ("/health", "/v1/health"):
        r = http.get(gw + path)
        assert (r.status_code, r.json()) == (200, {"status": "healthy", "service": "api-gateway"})
    r = http.get(gw + "/ready")
    assert r.status_code == 200 and r.json()["status"] == "ready"
    for path in ("/version", "/v1/version"):
        body = http.get(gw + path).json()
        assert body["version"] == "v2.3.1" and body["service"] == "api-gateway"
        assert re.fullmatch(r"[0-9a-f]{40}", body["commit"])


def test_fault_from_command_line(demo: Demo, http: httpx.Client) -> None:
    assert http.get(demo.url("orders") + "/version").json()["version"] == "v0.0.0-wrong"
    assert http.get(demo.url("orders") + "/health").status_code == 200
    assert http.get(f"{demo.admin}/faults").json()["faults"] == {"api-gateway": [], "orders": ["wrong_version"]}


# --- fault modes -------------------------------------------------------------------


def test_wrong_version_toggle(demo: Demo, http: httpx.Client, faults: Any) -> None:
    gw = demo.url("api-gateway")
    faults("api-gateway", ["wrong_version"])
    assert http.get(gw + "/v1/version").json()["version"] == "v0.0.0-wrong"
    faults("api-gateway", [])
    assert http.get(gw + "/v1/version").json()["version"] == "v2.3.1"


def test_unhealthy(demo: Demo, http: httpx.Client, faults: Any) -> None:
    gw = demo.url("api-gateway")
    faults("api-gateway", ["unhealthy"])
    r = http.get(gw + "/health")
    assert r.status_code == 503 and r.json()["status"] == "unhealthy"
    assert http.get(gw + "/v1/health").status_code == 503
    assert http.get(gw + "/v1/items").status_code == 200
    assert http.get(demo.url("orders") + "/health").status_code == 200  # other service untouched
    faults("api-gateway", [])
    assert http.get(gw + "/health").status_code == 200


def test_not_ready(demo: Demo, http: httpx.Client, faults: Any) -> None:
    gw = demo.url("api-gateway")
    faults("api-gateway", ["not_ready"])
    r = http.get(gw + "/ready")
    assert r.status_code == 503 and r.json()["status"] == "not ready"
    assert http.get(gw + "/health").json()["status"] == "healthy"


def test_slow(demo: Demo, http: httpx.Client, faults: Any) -> None:
    gw = demo.url("api-gateway")
    faults("api-gateway", ["slow"])
    for _ in range(3):
        t0 = time.perf_counter()
        assert http.get(gw + "/v1/items").status_code == 200
        assert time.perf_counter() - t0 >= 0.4
    t0 = time.perf_counter()
    http.get(gw + "/health")
    assert time.perf_counter() - t0 < 0.3  # probes are not slowed
    samples = scrape(http, gw)
    labels = dict(service="api-gateway", method="GET", route="/v1/items", status="200")
    above_300ms = metric_value(samples, "http_request_duration_seconds_bucket", **labels, le="+Inf") - metric_value(
        samples, "http_request_duration_seconds_bucket", **labels, le="0.3"
    )
    assert above_300ms >= 3


def test_errors(demo: Demo, http: httpx.Client, faults: Any) -> None:
    gw = demo.url("api-gateway")
    labels = dict(service="api-gateway", method="GET", route="/v1/items", status="500")
    before = metric_value(scrape(http, gw), "http_requests_total", **labels)
    faults("api-gateway", ["errors"])
    statuses = [http.get(gw + "/v1/items").status_code for _ in range(10)]
    assert statuses == [200, 200, 200, 200, 500] * 2  # every 5th
    assert http.get(gw + "/health").status_code == 200
    assert metric_value(scrape(http, gw), "http_requests_total", **labels) - before == 2


def test_crash_flow(demo: Demo, http: httpx.Client, faults: Any) -> None:
    gw = demo.url("api-gateway")
    faults("api-gateway", ["crash_flow"])
    r = http.post(gw + "/v1/auth/login", json={"username": "demo", "password": "demo"})
    assert r.status_code == 500
    assert http.post(gw + "/v1/reports", json={"kind": "orders"}).status_code == 500
    assert http.get(gw + "/v1/items").status_code == 200
    assert http.get(gw + "/health").status_code == 200


def test_down_and_back_on_same_port(demo: Demo, http: httpx.Client, faults: Any) -> None:
    url = demo.url("orders")
    auth = login(http, url)
    order = http.post(url + "/v1/orders", json={"items": [{"sku": "A1", "qty": 1, "price": 2}]}, headers=auth).json()

    faults("orders", ["down"])
    with pytest.raises(httpx.ConnectError):
        http.get(url + "/health")
    assert http.get(demo.url("api-gateway") + "/health").status_code == 200
    assert http.get(f"{demo.admin}/faults").json()["faults"]["orders"] == ["down"]
    # The port stays reserved while down: nobody else can bind it.
    port = int(url.rsplit(":", 1)[1])
    with socket.socket() as s, pytest.raises(OSError):
        s.bind(("127.0.0.1", port))

    faults("orders", [])
    r = http.get(url + "/health")
    assert (r.status_code, r.json()["service"]) == (200, "orders")
    # In-memory state survived the outage.
    assert http.get(f"{url}/v1/orders/{order['id']}", headers=auth).json()["id"] == order["id"]


def test_admin_rejects_bad_requests(demo: Demo, http: httpx.Client) -> None:
    assert http.post(f"{demo.admin}/faults/api-gateway", json={"modes": ["bogus"]}).status_code == 422
    assert http.post(f"{demo.admin}/faults/api-gateway", json={"mode": "slow"}).status_code == 422
    assert http.post(f"{demo.admin}/faults/nope", json={"modes": []}).status_code == 404
    assert http.get(f"{demo.admin}/faults").json()["faults"]["api-gateway"] == []


# --- metrics -----------------------------------------------------------------------


def test_metrics_exposition(demo: Demo, http: httpx.Client) -> None:
    gw = demo.url("api-gateway")
    for _ in range(3):
        http.get(gw + "/v1/items")
    http.get(gw + "/nope")
    samples = scrape(http, gw)

    histograms: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = {}
    counts, sums, totals = {}, {}, {}
    for name, labels, value in samples:
        key = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        if name == "http_request_duration_seconds_bucket":
            histograms.setdefault(key, []).append((float(labels["le"]), value))
        elif name == "http_request_duration_seconds_count":
            counts[key] = value
        elif name == "http_request_duration_seconds_sum":
            sums[key] = value
        elif name == "http_requests_total":
            totals[key] = value
    assert histograms and set(histograms) == set(counts) == set(sums) == set(totals)
    for key, buckets in histograms.items():
        bounds = [b for b, _ in buckets]
        assert bounds == sorted(bounds) and bounds[-1] == math.inf and len(bounds) == 16
        values = [v for _, v in buckets]
        assert values == sorted(values), f"buckets not cumulative for {key}"
        assert values[-1] == counts[key] == totals[key]
        assert sums[key] >= 0
        assert {k for k, _ in key} == {"service", "method", "route", "status"}

    items = dict(service="api-gateway", method="GET", route="/v1/items", status="200")
    assert metric_value(samples, "http_requests_total", **items) >= 3
    unmatched = dict(service="api-gateway", method="GET", route="unmatched", status="404")
    assert metric_value(samples, "http_requests_total", **unmatched) >= 1
    assert not any(lab.get("route") == "/metrics" for _, lab, _ in samples)  # scrapes not counted
    assert metric_value(samples, "process_resident_memory_bytes") > 1_000_000
    assert metric_value(samples, "process_cpu_seconds_total") > 0


BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.5, 0.75, 1, 2.5, 5, math.inf]
REQUEST_LABELS = {"service", "method", "route", "status"}


def test_metrics_families(demo: Demo, http: httpx.Client) -> None:
    """Exactly the demo's four families, typed and labelled as Prometheus expects them."""
    gw = demo.url("api-gateway")
    http.get(gw + "/v1/items")
    families = {f.name: f for f in text_string_to_metric_families(http.get(gw + "/metrics").text)}
    assert {name: f.type for name, f in families.items()} == {
        "http_request_duration_seconds": "histogram",
        "http_requests": "counter",  # the parser names a counter's family without `_total`
        "process_resident_memory_bytes": "gauge",
        "process_cpu_seconds": "counter",
    }
    histogram = families["http_request_duration_seconds"].samples
    assert {s.name for s in histogram} == {f"http_request_duration_seconds_{p}" for p in ("bucket", "sum", "count")}
    assert all(set(s.labels) - {"le"} == REQUEST_LABELS for s in histogram)
    items = {"service": "api-gateway", "method": "GET", "route": "/v1/items", "status": "200"}
    bounds = [
        float(s.labels["le"]) for s in histogram if s.name.endswith("_bucket") and s.labels.items() >= items.items()
    ]
    assert bounds == BUCKETS
    counter = families["http_requests"].samples
    assert counter and all(s.name == "http_requests_total" and set(s.labels) == REQUEST_LABELS for s in counter)
    assert all(s.labels["service"] == "api-gateway" for s in histogram + counter)  # one registry per service
    for name in ("process_resident_memory_bytes", "process_cpu_seconds"):
        assert [s.labels for s in families[name].samples] == [{}]


def test_metrics_openmetrics_when_asked(demo: Demo, http: httpx.Client) -> None:
    """prometheus_client negotiates the format: a Prometheus that prefers OpenMetrics gets it."""
    r = http.get(demo.url("orders") + "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert r.headers["content-type"].startswith("application/openmetrics-text; version=1.0.0")
    assert r.text.endswith("# EOF\n")
    names = {f.name for f in openmetrics_families(r.text)}
    assert {"http_request_duration_seconds", "http_requests", "process_resident_memory_bytes"} <= names


def test_client_gone_mid_request_is_499(demo: Demo, http: httpx.Client) -> None:
    """A client that leaves before sending its body is no 500 of the service's, nor a traceback."""
    gw = demo.url("api-gateway")
    labels = dict(service="api-gateway", method="POST", route="/v1/auth/login", status="499")
    before = metric_value(scrape(http, gw), "http_requests_total", **labels)
    host, port = gw.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as s:
        s.sendall(b"POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{")
    deadline = time.monotonic() + 3
    while metric_value(scrape(http, gw), "http_requests_total", **labels) == before:
        assert time.monotonic() < deadline, "the abandoned request was not recorded as 499"
        time.sleep(0.02)
    assert "Traceback" not in demo.stderr()


# --- background traffic --------------------------------------------------------------

TRAFFIC_RPS = 20
TRAFFIC_ROUTES = {"/v1/items", "/v1/auth/login", "/v1/orders"}


@dataclass
class Window:
    """Every service's samples at the start and end of a stretch of traffic."""

    before: dict[str, Samples]
    after: dict[str, Samples]
    seconds: float

    def increase(self, service: str, name: str, **labels: str) -> float:
        """Increase of the sum over every series of `name` whose labels include these."""

        def total(samples: Samples) -> float:
            return sum(v for n, lab, v in samples if n == name and lab.items() >= labels.items())

        return total(self.after[service]) - total(self.before[service])

    def routes(self, service: str) -> set[str]:
        return {lab["route"] for n, lab, _ in self.after[service] if n == "http_requests_total"}


@pytest.fixture(scope="module")
def traffic_demo() -> Iterator[Demo]:
    d = launch(
        "--traffic-rps",
        str(TRAFFIC_RPS),
        "--fault",
        "slowpoke=slow",
        "--fault",
        "flaky=errors",
        "shop",
        "slowpoke",
        "flaky",
    )
    yield d
    stop(d)


@pytest.fixture(scope="module")
def window(traffic_demo: Demo, http: httpx.Client) -> Window:
    """Two scrapes of every service 2 s apart (after a warm-up, so slow requests are finishing too)."""

    def scrape_all() -> dict[str, Samples]:
        return {name: scrape(http, url) for name, url in traffic_demo.info["services"].items()}

    until("every service answering its traffic (the slow one too)", lambda: all(
        any(n == "http_requests_total" for n, _, _ in samples) for samples in scrape_all().values()
    ))  # fmt: skip
    t0, before = time.monotonic(), scrape_all()
    time.sleep(2)  # the stretch of traffic measured, not a wait for something to happen
    return Window(before, scrape_all(), time.monotonic() - t0)


def test_traffic_rate(window: Window) -> None:
    for service in ("shop", "slowpoke", "flaky"):  # a slow service still gets its rate: requests overlap
        rate = window.increase(service, "http_requests_total") / window.seconds
        assert rate >= 15, f"{service}: {rate:.1f} requests/s"
    assert window.increase("shop", "http_requests_total", route="/v1/items", status="200") > 0
    assert window.routes("shop") <= TRAFFIC_ROUTES  # the traffic never calls the probes
    assert "/v1/auth/login" in window.routes("shop")


def test_traffic_errors(window: Window) -> None:
    api = sum(window.increase("flaky", "http_requests_total", route=r) for r in TRAFFIC_ROUTES)
    errors = sum(window.increase("flaky", "http_requests_total", route=r, status="500") for r in TRAFFIC_ROUTES)
    assert api >= 30 and 0.15 <= errors / api <= 0.25, f"{errors:.0f} of {api:.0f} answered 500"
    assert window.increase("shop", "http_requests_total", status="500") == 0


def test_traffic_slow(window: Window) -> None:
    count = window.increase("slowpoke", "http_request_duration_seconds_count", route="/v1/items")
    seconds = window.increase("slowpoke", "http_request_duration_seconds_sum", route="/v1/items")
    fast = window.increase("slowpoke", "http_request_duration_seconds_bucket", route="/v1/items", le="0.3")
    assert count > 0 and fast == 0 and seconds / count >= 0.4, f"{count:.0f} requests, mean {seconds / count:.3f} s"
    shop_seconds = window.increase("shop", "http_request_duration_seconds_sum", route="/v1/items")
    assert shop_seconds / window.increase("shop", "http_request_duration_seconds_count", route="/v1/items") < 0.1


def test_traffic_leaves_probes_alone(traffic_demo: Demo, http: httpx.Client) -> None:
    for service, url in traffic_demo.info["services"].items():
        assert http.get(url + "/health").json() == {"status": "healthy", "service": service}
        assert http.get(url + "/ready").status_code == 200
        assert http.get(url + "/version").json()["version"] == "v2.3.1"


def _refused(url: str) -> bool:
    try:
        httpx.get(url + "/health", timeout=1)
    except httpx.ConnectError:
        return True
    return False


def test_traffic_pauses_while_down(traffic_demo: Demo, http: httpx.Client) -> None:
    shop, admin = traffic_demo.url("shop"), traffic_demo.admin
    http.post(f"{admin}/faults/shop", json={"modes": ["down"]}).raise_for_status()
    until("shop refusing connections", lambda: _refused(shop))
    http.post(f"{admin}/faults/shop", json={"modes": []}).raise_for_status()
    before = metric_value(scrape(http, shop), "http_requests_total", **ITEMS_OK)
    until(
        "the traffic resumed",
        lambda: metric_value(scrape(http, shop), "http_requests_total", **ITEMS_OK) - before >= 10,
    )


ITEMS_OK = {"service": "shop", "method": "GET", "route": "/v1/items", "status": "200"}


# --- user flows --------------------------------------------------------------------


def test_user_flows(demo: Demo, http: httpx.Client) -> None:
    base = demo.url("api-gateway")
    assert http.post(base + "/v1/auth/login", json={"username": "demo", "password": "x"}).status_code == 401
    assert http.post(base + "/v1/auth/login", content=b"not json").status_code == 422
    auth = login(http, base)

    assert http.get(base + "/v1/items").json()["items"]
    order_body = {"items": [{"sku": "A1", "qty": 2, "price": 9.5}]}
    assert http.post(base + "/v1/orders", json=order_body).status_code == 401
    assert http.post(base + "/v1/orders", json=order_body, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert http.post(base + "/v1/orders", json={"items": []}, headers=auth).status_code == 422
    bad = http.post(base + "/v1/orders", json={"items": [{"sku": "A1", "qty": 0, "price": 1}]}, headers=auth)
    assert bad.status_code == 422 and "qty" in bad.text
    r = http.post(base + "/v1/orders", json=order_body, headers=auth)
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["status"] == "pending" and order["total"] == 19.0
    assert http.get(f"{base}/v1/orders/{order['id']}", headers=auth).json() == order
    assert http.get(f"{base}/v1/orders/ord_missing", headers=auth).status_code == 404

    pay = f"{base}/v1/payments"
    assert http.post(pay, json={"order_id": "ord_missing", "amount": 19.0}, headers=auth).status_code == 404
    assert http.post(pay, json={"order_id": order["id"], "amount": 18.0}, headers=auth).status_code == 422
    r = http.post(pay, json={"order_id": order["id"], "amount": 19.0}, headers=auth)
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "captured"
    assert http.get(f"{base}/v1/orders/{order['id']}", headers=auth).json()["status"] == "paid"
    assert http.post(pay, json={"order_id": order["id"], "amount": 19.0}, headers=auth).status_code == 409

    assert http.post(base + "/v1/reports", json={"kind": "nope"}, headers=auth).status_code == 422
    r = http.post(base + "/v1/reports", json={"kind": "orders"}, headers=auth)
    assert r.status_code == 202 and r.json()["status"] == "pending"
    report_url = f"{base}/v1/reports/{r.json()['id']}"
    deadline = time.monotonic() + 3
    while (report := http.get(report_url, headers=auth).json())["status"] != "done":
        assert report["status"] == "pending" and time.monotonic() < deadline
        time.sleep(0.02)
    assert report["rows"] >= 1


# --- process lifecycle and scale ---------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_exits_cleanly(sig: signal.Signals) -> None:
    d = launch("svc")
    try:
        with httpx.Client(trust_env=False, timeout=5) as client:
            assert client.get(d.url("svc") + "/health").status_code == 200  # leaves a keep-alive open
            t0 = time.monotonic()
            d.proc.send_signal(sig)
            assert d.proc.wait(timeout=3) == 0, d.stderr()
            print(f"\n{sig.name}: exited in {time.monotonic() - t0:.2f}s")
    finally:
        stop(d)


def test_shutdown_stops_the_traffic() -> None:
    # Slow, so requests are in flight when the signal comes.
    d = launch("--traffic-rps", "50", "--fault", "b=slow", "--log-level", "info", "a", "b")
    try:
        until("the traffic running", lambda: "http_requests_total{" in httpx.get(d.url("a") + "/metrics").text)
        t0 = time.monotonic()
        d.proc.send_signal(signal.SIGTERM)
        assert d.proc.wait(timeout=5) == 0, d.stderr()
        assert time.monotonic() - t0 < 3
        log = d.stderr()
        assert "shutting down" in log
        for problem in ("Traceback", "ERROR", "WARNING", "exception", "Task was destroyed"):
            assert problem not in log, log
    finally:
        stop(d)


def test_fixed_port_and_down_at_start() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    d = launch(f"svc:{port}", "--fault", "svc=down,slow", "--version-of", "svc=v9.9.9")
    try:
        assert d.url("svc") == f"http://127.0.0.1:{port}"
        with httpx.Client(trust_env=False, timeout=5) as client:
            with pytest.raises(httpx.ConnectError):
                client.get(d.url("svc") + "/health")
            client.post(f"{d.admin}/faults/svc", json={"modes": []}).raise_for_status()
            assert client.get(d.url("svc") + "/version").json()["version"] == "v9.9.9"
    finally:
        stop(d)


def test_cli_errors() -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "demo", *args], cwd=ROOT, capture_output=True, text=True, timeout=20
        )

    r = run("svc", "--fault", "svc=bogus")
    assert r.returncode == 2 and "bogus" in r.stderr and r.stdout == ""
    assert run("svc", "--fault", "other=slow").returncode == 2
    assert run("svc", "svc").returncode == 2
    for rps in ("-1", "1001"):
        r = run("svc", "--traffic-rps", rps)
        assert r.returncode == 2 and "--traffic-rps" in r.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        r = run(f"svc:{taken.getsockname()[1]}")
    assert r.returncode == 1 and "cannot bind" in r.stderr and r.stdout == ""


def test_fifty_services_with_latency() -> None:
    names = [f"svc-{i:02d}" for i in range(50)]
    t0 = time.monotonic()
    d = launch("--latency-ms", "50", *names)
    started = time.monotonic() - t0
    try:
        assert len(d.info["services"]) == 50

        async def hit_all() -> tuple[float, list[httpx.Response]]:
            async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
                await client.get(d.url(names[0]) + "/health")  # warm up
                t = time.perf_counter()
                responses = await asyncio.gather(*(client.get(d.url(n) + "/health") for n in names))
                return time.perf_counter() - t, responses

        elapsed, responses = asyncio.run(hit_all())
        assert [r.json()["service"] for r in responses] == names
        assert all(r.status_code == 200 for r in responses)
        print(
            f"\n50 services: started in {started:.2f}s; 50 concurrent /health in {elapsed * 1000:.0f} ms "
            f"(serial would be >= {50 * 50} ms)"
        )
        assert 0.05 <= elapsed < 2.5
    finally:
        stop(d)
