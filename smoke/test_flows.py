"""The key user flows of the deployment guide, for the demo's API: log in, create an order, process a payment,
generate a report (check ids flows.login, flows.create_order, flows.process_payment, flows.generate_report).

Each step is one request, recorded in the flow's finding; the first that fails ends the flow and names itself.
What a flow creates carries the run id and is removed by its `cleanup`, which runs however the flow ends.
"""

from __future__ import annotations

from typing import Any

import pytest

from deploycheck_plugins.flows import run_declared

TEST_AMOUNT = 1.0  # what a smoke payment charges: one test item at 1.00
REPORT_WITHIN_S = 2.0  # a report of one order is done in well under this


def test_order(reference: str) -> dict[str, Any]:
    return {"items": [{"sku": "SMOKE-TEST", "qty": 1, "price": TEST_AMOUNT}], "reference": reference}


test_order.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


@pytest.mark.flow
def test_login(login, step, smoke_account):
    token = login()
    step("read my account", "GET", "/v1/auth/me", bearer=token, fields={"username": smoke_account.username})


@pytest.mark.flow(mutating=True)
def test_create_order(step, cleanup, run_id):
    order = step("create an order", "POST", "/v1/orders", json=test_order(f"smoke-{run_id}"), expect=201).json()
    cleanup("delete the order", "DELETE", f"/v1/orders/{order['id']}")
    step("read the order back", "GET", f"/v1/orders/{order['id']}", fields={"id": order["id"], "status": "pending"})


@pytest.mark.flow(mutating=True)
def test_process_payment(step, cleanup, run_id):
    order = step("create an order", "POST", "/v1/orders", json=test_order(f"smoke-{run_id}"), expect=201).json()
    cleanup("delete the order", "DELETE", f"/v1/orders/{order['id']}")
    payment = step(
        "pay the order",
        "POST",
        "/v1/payments",
        json={"order_id": order["id"], "amount": TEST_AMOUNT},
        headers={"Idempotency-Key": f"smoke-{run_id}-{order['id']}"},  # a retry never charges twice
        expect=201,
        fields={"status": "captured", "amount": TEST_AMOUNT},
    ).json()
    cleanup("refund the payment", "DELETE", f"/v1/payments/{payment['id']}")
    step("read the payment back", "GET", f"/v1/payments/{payment['id']}", fields={"order_id": order["id"]})


@pytest.mark.flow(mutating=True)
def test_generate_report(step, cleanup, run_id):
    reference = f"smoke-{run_id}-report"  # its own: the other flows' orders may exist meanwhile
    order = step("create an order", "POST", "/v1/orders", json=test_order(reference), expect=201).json()
    cleanup("delete the order", "DELETE", f"/v1/orders/{order['id']}")
    asked = {"kind": "orders", "reference": reference}
    report = step("ask for a report of the orders", "POST", "/v1/reports", json=asked, expect=202).json()
    cleanup("delete the report", "DELETE", f"/v1/reports/{report['id']}")
    step(
        "wait for the report",
        "GET",
        f"/v1/reports/{report['id']}",
        until={"status": "done"},
        within=REPORT_WITHIN_S,
        fields={"rows": 1},  # the order made above, and only it (a report of the run's own orders)
    )


def test_declared(declared_flow, flow, run_id, verify):
    """A flow written in the environment file (`declared_flows:`), reported as flows.<its name>."""
    run_declared(declared_flow, flow, run_id, verify)
