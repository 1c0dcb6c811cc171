"""The ASGI app of one demo service: probes, metrics and the key user flows.

State (tokens, orders, payments, reports) lives in memory, per service, and
survives the `down` fault (the app object outlives its uvicorn server).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import math
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .faults import SLOW_EXTRA_SECONDS, WRONG_VERSION, Faults
from .metrics import ServiceMetrics

Handler = Callable[[Request], Awaitable[Response]]

DEMO_USER = ("demo", "demo")
REPORT_DELAY_SECONDS = 0.1
REPORT_KINDS = ("orders", "payments")
ITEMS = [
    {"sku": "A1", "name": "Widget", "price": 9.5},
    {"sku": "B2", "name": "Gadget", "price": 24.0},
    {"sku": "C3", "name": "Gizmo", "price": 3.25},
]

# Route templates by kind.  Faults `slow`/`errors` hit API and flow routes,
# `crash_flow` only flow routes; probes are only touched by their own faults.
PROBE_ROUTES = frozenset({"/health", "/v1/health", "/ready", "/v1/ready", "/version", "/v1/version", "/metrics"})
FLOW_PREFIXES = ("/v1/auth/", "/v1/orders", "/v1/payments", "/v1/reports")
UNMATCHED_ROUTE = "unmatched"  # route label for 404s, so paths can't blow up cardinality
CLIENT_CLOSED_REQUEST = 499  # status label of a request whose client went away first


@dataclass
class Report:
    id: str
    kind: str
    rows: int
    ready_at: float  # monotonic time the job "finishes"; status is derived from it


@dataclass
class ServiceState:
    """Everything one service knows; one instance per service."""

    name: str
    version: str
    faults: Faults
    metrics: ServiceMetrics
    latency: float = 0.0  # seconds added to every request
    tokens: set[str] = field(default_factory=set)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    reports: dict[str, Report] = field(default_factory=dict)


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(6)}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


async def _json_object(request: Request) -> dict[str, Any] | None:
    """The body as a JSON object, or None if it is missing/malformed/not an object."""
    try:
        body = await request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _validate_order(body: dict[str, Any] | None) -> tuple[list[dict[str, Any]], list[str]]:
    """Return (clean items, problems) for a create-order body."""
    items = body.get("items") if body else None
    if not isinstance(items, list) or not items:
        return [], ["items must be a non-empty list"]
    clean: list[dict[str, Any]] = []
    problems: list[str] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            problems.append(f"items[{i}] must be an object")
            continue
        sku, qty, price = item.get("sku"), item.get("qty"), item.get("price")
        if not isinstance(sku, str) or not sku:
            problems.append(f"items[{i}].sku must be a non-empty string")
        if not isinstance(qty, int) or isinstance(qty, bool) or qty < 1:
            problems.append(f"items[{i}].qty must be a positive integer")
        if not _is_number(price) or price < 0:
            problems.append(f"items[{i}].price must be a non-negative number")
        clean.append({"sku": sku, "qty": qty, "price": price})
    return clean, problems


def create_app(state: ServiceState) -> ASGIApp:
    """Build the ASGI app for one service (Starlette routes wrapped in ServiceMiddleware)."""

    def authorized(request: Request) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and token in state.tokens

    def requires_token(handler: Handler) -> Handler:
        """The flow routes need `Authorization: Bearer <token>` from /v1/auth/login."""

        @functools.wraps(handler)
        async def guarded(request: Request) -> Response:
            if not authorized(request):
                return _error(401, "missing or invalid bearer token")
            return await handler(request)

        return guarded

    async def health(request: Request) -> Response:
        if "unhealthy" in state.faults:
            return JSONResponse(
                {"status": "unhealthy", "service": state.name, "reason": "fault: unhealthy"},
                status_code=503,
            )
        return JSONResponse({"status": "healthy", "service": state.name})

    async def ready(request: Request) -> Response:
        if "not_ready" in state.faults:
            return JSONResponse({"status": "not ready", "service": state.name}, status_code=503)
        return JSONResponse({"status": "ready", "service": state.name})

    async def version(request: Request) -> Response:
        ver = WRONG_VERSION if "wrong_version" in state.faults else state.version
        commit = hashlib.sha1(f"{state.name}@{ver}".encode()).hexdigest()  # fake but stable
        return JSONResponse({"version": ver, "service": state.name, "commit": commit})

    async def metrics(request: Request) -> Response:
        body, content_type = state.metrics.exposition(request.headers.get("accept", ""))
        return Response(body, media_type=content_type)

    async def items(request: Request) -> Response:
        return JSONResponse({"items": ITEMS})

    async def login(request: Request) -> Response:
        body = await _json_object(request)
        if body is None or not isinstance(body.get("username"), str) or not isinstance(body.get("password"), str):
            return _error(422, 'body must be {"username": str, "password": str}')
        if (body["username"], body["password"]) != DEMO_USER:
            return _error(401, "invalid credentials")
        token = secrets.token_urlsafe(24)
        state.tokens.add(token)
        return JSONResponse({"token": token, "token_type": "bearer"})

    async def create_order(request: Request) -> Response:
        items_, problems = _validate_order(await _json_object(request))
        if problems:
            return _error(422, "validation failed", details=problems)
        order = {
            "id": _new_id("ord"),
            "status": "pending",
            "items": items_,
            "total": round(sum(i["qty"] * i["price"] for i in items_), 2),
        }
        state.orders[order["id"]] = order
        return JSONResponse(order, status_code=201, headers={"Location": f"/v1/orders/{order['id']}"})

    async def get_order(request: Request) -> Response:
        order = state.orders.get(request.path_params["id"])
        return JSONResponse(order) if order else _error(404, "order not found")

    async def create_payment(request: Request) -> Response:
        body = await _json_object(request)
        if body is None or not isinstance(body.get("order_id"), str) or not _is_number(body.get("amount")):
            return _error(422, 'body must be {"order_id": str, "amount": number}')
        order = state.orders.get(body["order_id"])
        if order is None:
            return _error(404, "order not found")
        if abs(body["amount"] - order["total"]) > 0.005:
            return _error(422, "amount does not match order total", expected=order["total"])
        if order["status"] == "paid":
            return _error(409, "order already paid", payment_id=order["payment_id"])
        payment = {"id": _new_id("pay"), "status": "captured", "order_id": order["id"], "amount": order["total"]}
        state.payments[payment["id"]] = payment
        order.update(status="paid", payment_id=payment["id"])
        return JSONResponse(payment, status_code=201, headers={"Location": f"/v1/payments/{payment['id']}"})

    async def get_payment(request: Request) -> Response:
        payment = state.payments.get(request.path_params["id"])
        return JSONResponse(payment) if payment else _error(404, "payment not found")

    async def create_report(request: Request) -> Response:
        body = await _json_object(request)
        kind = body.get("kind") if body else None
        if kind not in REPORT_KINDS:
            return _error(422, f"kind must be one of {list(REPORT_KINDS)}")
        # Rows are a snapshot taken now; the job "runs" for REPORT_DELAY_SECONDS.
        rows = len(state.orders if kind == "orders" else state.payments)
        report = Report(_new_id("rep"), kind, rows, time.monotonic() + REPORT_DELAY_SECONDS)
        state.reports[report.id] = report
        return JSONResponse(
            {"id": report.id, "kind": kind, "status": "pending"},
            status_code=202,
            headers={"Location": f"/v1/reports/{report.id}"},
        )

    async def get_report(request: Request) -> Response:
        report = state.reports.get(request.path_params["id"])
        if report is None:
            return _error(404, "report not found")
        if time.monotonic() < report.ready_at:
            return JSONResponse({"id": report.id, "kind": report.kind, "status": "pending"})
        return JSONResponse({"id": report.id, "kind": report.kind, "status": "done", "rows": report.rows})

    routes = [
        Route("/health", health),
        Route("/v1/health", health),
        Route("/ready", ready),
        Route("/v1/ready", ready),
        Route("/version", version),
        Route("/v1/version", version),
        Route("/metrics", metrics),
        Route("/v1/items", items),
        Route("/v1/auth/login", login, methods=["POST"]),
        Route("/v1/orders", requires_token(create_order), methods=["POST"]),
        Route("/v1/orders/{id}", requires_token(get_order)),
        Route("/v1/payments", requires_token(create_payment), methods=["POST"]),
        Route("/v1/payments/{id}", requires_token(get_payment)),
        Route("/v1/reports", requires_token(create_report), methods=["POST"]),
        Route("/v1/reports/{id}", requires_token(get_report)),
    ]
    return ServiceMiddleware(Starlette(routes=routes), state, routes)


class ServiceMiddleware:
    """Adds latency and faults, and records metrics, around every HTTP request.

    Pure ASGI (not BaseHTTPMiddleware) so it stays cheap with many services, and
    outside Starlette so injected 500s are recorded like real ones.
    """

    def __init__(self, app: ASGIApp, state: ServiceState, routes: list[Route]) -> None:
        self.app = app
        self.state = state
        self.routes = routes

    def route_of(self, scope: Scope) -> str:
        """The matched route template (a 405 still names its route)."""
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is not Match.NONE:
                return route.path
        return UNMATCHED_ROUTE

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        route = self.route_of(scope)
        status = 500  # if the app dies before starting a response

        async def send_and_capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            if self.state.latency:
                await asyncio.sleep(self.state.latency)  # sleep, so concurrent requests overlap
            injected = await self._inject_fault(route)
            if injected is not None:
                await injected(scope, receive, send_and_capture)
            else:
                await self.app(scope, receive, send_and_capture)
        except ClientDisconnect:
            # The client left before its body was read: nothing to answer and no
            # fault of ours, so no 500 and no traceback (nginx's 499).
            status = CLIENT_CLOSED_REQUEST
        finally:
            if route != "/metrics":
                self.state.metrics.observe(scope["method"], route, status, time.perf_counter() - start)

    async def _inject_fault(self, route: str) -> Response | None:
        """Apply slow/errors/crash_flow; return a 500 response to send instead, if any."""
        faults = self.state.faults
        if route in PROBE_ROUTES or route == UNMATCHED_ROUTE:
            return None
        if "slow" in faults:
            await asyncio.sleep(SLOW_EXTRA_SECONDS)
        if faults.next_request_fails():
            return _error(500, "injected fault: errors", service=self.state.name)
        if "crash_flow" in faults and route.startswith(FLOW_PREFIXES):
            return _error(500, "injected fault: crash_flow", service=self.state.name)
        return None
