"""The demo's user-flow API as the flows use it: OAuth2 login, idempotent payments, deletes and refunds, the fault
modes that break each flow, the admin's view of what a run left, and state kept in SQLite across restarts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.demo.test_demo import Demo, launch, stop
from tests.polling import until

SMOKE = {"grant_type": "password", "username": "smoke", "password": "local-smoke-password"}
ORDER = {"items": [{"sku": "SMOKE-TEST", "qty": 1, "price": 1.0}], "reference": "smoke-run1"}


@pytest.fixture(scope="module")
def demo() -> Iterator[Demo]:
    running = launch("shop")
    yield running
    stop(running)


@pytest.fixture
def api(demo: Demo) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=demo.url("shop"), timeout=5, trust_env=False) as client:
        token = client.post("/v1/auth/token", data=SMOKE).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        yield client
    httpx.post(f"{demo.admin}/faults/shop", json={"modes": []}, timeout=5).raise_for_status()


def faults(demo: Demo, *modes: str) -> None:
    httpx.post(f"{demo.admin}/faults/shop", json={"modes": list(modes)}, timeout=5).raise_for_status()


def left(demo: Demo, reference: str) -> dict[str, int]:
    return httpx.get(f"{demo.admin}/store/shop", params={"reference": reference}, timeout=5).json()["left"]


def done(api: httpx.Client, report: dict[str, Any]) -> dict[str, Any]:
    """The report once the demo has made it (it answers `pending` until then)."""
    url = f"/v1/reports/{report['id']}"
    answer: dict[str, Any] = until(f"report {report['id']} done", lambda: _if_done(api.get(url).json()))
    return answer


def _if_done(report: dict[str, Any]) -> dict[str, Any] | None:
    return report if report["status"] == "done" else None


def test_oauth2_password_login_gives_a_bearer_token(demo: Demo, api: httpx.Client) -> None:
    answer = httpx.post(f"{demo.url('shop')}/v1/auth/token", data=SMOKE, timeout=5).json()

    assert answer["token_type"] == "bearer" and answer["access_token"].startswith("dtk_")
    assert api.get("/v1/auth/me").json() == {"username": "smoke"}
    wrong = httpx.post(f"{demo.url('shop')}/v1/auth/token", data={**SMOKE, "password": "nope"}, timeout=5)
    assert (wrong.status_code, wrong.json()) == (401, {"error": "invalid_grant"})
    assert api.post("/v1/auth/logout").status_code == 204
    assert api.get("/v1/auth/me").status_code == 401  # the token is revoked


def test_a_payment_with_an_idempotency_key_is_charged_once_and_refunded(demo: Demo, api: httpx.Client) -> None:
    order = api.post("/v1/orders", json=ORDER).json()
    pay = {"order_id": order["id"], "amount": 1.0}
    first = api.post("/v1/payments", json=pay, headers={"Idempotency-Key": "k-1"})
    again = api.post("/v1/payments", json=pay, headers={"Idempotency-Key": "k-1"})

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert left(demo, "run1") == {"orders": 1, "payments": 1, "reports": 0}
    assert api.delete(f"/v1/payments/{first.json()['id']}").status_code == 204
    assert api.get(f"/v1/orders/{order['id']}").json()["status"] == "pending"
    assert api.delete(f"/v1/orders/{order['id']}").status_code == 204
    assert api.delete(f"/v1/orders/{order['id']}").status_code == 404
    assert left(demo, "run1") == {"orders": 0, "payments": 0, "reports": 0}


def test_a_report_counts_the_orders_of_its_reference(demo: Demo, api: httpx.Client) -> None:
    orders = [api.post("/v1/orders", json={**ORDER, "reference": "smoke-run2"}).json() for _ in range(2)]
    report = api.post("/v1/reports", json={"kind": "orders", "reference": "smoke-run2"}).json()

    assert done(api, report)["rows"] == 2
    assert api.delete(f"/v1/reports/{report['id']}").status_code == 204
    for order in orders:
        api.delete(f"/v1/orders/{order['id']}")
    assert left(demo, "run2") == {"orders": 0, "payments": 0, "reports": 0}


@pytest.mark.parametrize(
    ("mode", "request_", "status"),
    [
        ("login_rejected", ("POST", "/v1/auth/token"), 401),
        ("order_unreadable", ("GET", "/v1/orders/{order}"), 404),
        ("payment_declined", ("POST", "/v1/payments"), 402),
        ("payment_error", ("POST", "/v1/payments"), 500),
        ("delete_fails", ("DELETE", "/v1/orders/{order}"), 500),
    ],
)
def test_each_flow_fault_breaks_its_request(demo: Demo, api: httpx.Client, mode, request_, status) -> None:
    order = api.post("/v1/orders", json=ORDER).json()
    faults(demo, mode)
    method, path = request_
    body = {
        "/v1/auth/token": {"data": SMOKE},
        "/v1/payments": {"json": {"order_id": order["id"], "amount": 1.0}},
    }.get(path, {})

    assert api.request(method, path.format(order=order["id"]), **body).status_code == status
    faults(demo)
    api.delete(f"/v1/orders/{order['id']}")


def test_report_faults_make_it_slow_or_empty(demo: Demo, api: httpx.Client) -> None:
    order = api.post("/v1/orders", json={**ORDER, "reference": "smoke-run3"}).json()
    faults(demo, "report_empty")
    empty = api.post("/v1/reports", json={"kind": "orders", "reference": "smoke-run3"}).json()
    faults(demo, "report_slow")
    slow = api.post("/v1/reports", json={"kind": "orders", "reference": "smoke-run3"}).json()

    assert done(api, empty) == {**empty, "status": "done", "rows": 0}
    assert api.get(f"/v1/reports/{slow['id']}").json()["status"] == "pending"  # made after it, due long after it
    for path in (f"/v1/reports/{empty['id']}", f"/v1/reports/{slow['id']}", f"/v1/orders/{order['id']}"):
        api.delete(path)


def test_the_store_outlives_the_process_with_a_state_dir(tmp_path: Path) -> None:
    first = launch("shop", "--state-dir", str(tmp_path))
    try:
        with httpx.Client(base_url=first.url("shop"), timeout=5, trust_env=False) as client:
            token = client.post("/v1/auth/token", data=SMOKE).json()["access_token"]
            order = client.post("/v1/orders", json=ORDER, headers={"Authorization": f"Bearer {token}"}).json()
    finally:
        stop(first)
    assert (tmp_path / "shop.sqlite3").is_file()
    second = launch("shop", "--state-dir", str(tmp_path))
    try:
        answer = httpx.get(
            f"{second.url('shop')}/v1/orders/{order['id']}", headers={"Authorization": f"Bearer {token}"}, timeout=5
        )
        assert answer.json() == order  # the token and the order, both kept
    finally:
        stop(second)
