"""The ASGI app of one demo service: probes, metrics and the key user flows.

State (accounts, tokens, orders, payments, reports) lives in the service's SQLite store (`store.py`) and
survives the `down` fault (the app object outlives its uvicorn server).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .faults import REPORT_SLOW_SECONDS, SLOW_EXTRA_SECONDS, WRONG_VERSION, Faults
from .metrics import ServiceMetrics
from .store import Store

Handler = Callable[[Request], Awaitable[Response]]

DEMO_USER = ("demo", "demo")
# The smoke-test account of `environments/local.yaml`; SMOKE_USER / SMOKE_PASSWORD in the demo's environment add
# another (see __main__.py).
SMOKE_USER = ("smoke", "local-smoke-password")
REPORT_DELAY_SECONDS = 0.1
REPORT_KINDS = ("orders", "payments")
TOKEN_LIFETIME_S = 3600
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
class ServiceState:
    """Everything one service knows; one instance per service."""

    name: str
    version: str
    faults: Faults
    metrics: ServiceMetrics
    latency: float = 0.0  # seconds added to every request
    store: Store = field(default_factory=Store)


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


async def _json_object(request: Request) -> dict[str, Any] | None:
    """The body as a JSON object, or None if it is missing/malformed/not an object."""
    try:
        body = await request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


async def _form(request: Request) -> dict[str, str]:
    """An `application/x-www-form-urlencoded` body (the OAuth2 password grant), first value of each field."""
    try:
        text = (await request.body()).decode()
    except UnicodeDecodeError:
        return {}
    return {key: values[0] for key, values in parse_qs(text).items()}


def _reference(body: dict[str, Any] | None) -> tuple[str | None, str | None]:
    """(reference, problem): the optional `reference` a client tags its data with (a smoke run's id)."""
    reference = body.get("reference") if body else None
    if reference is not None and (not isinstance(reference, str) or not 0 < len(reference) <= 200):
        return None, "reference must be a string of 1 to 200 characters"
    return reference, None


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

    store = state.store

    def user_of(request: Request) -> str | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return store.user_of(token) if scheme.lower() == "bearer" and token else None

    def requires_token(handler: Handler) -> Handler:
        """The flow routes need `Authorization: Bearer <token>` from /v1/auth/login or /v1/auth/token."""

        @functools.wraps(handler)
        async def guarded(request: Request) -> Response:
            if user_of(request) is None:
                return _error(401, "missing or invalid bearer token")
            return await handler(request)

        return guarded

    def deleting(handler: Handler) -> Handler:
        """`delete_fails`: every DELETE answers 500, as a cleanup meets a broken API."""

        @functools.wraps(handler)
        async def guarded(request: Request) -> Response:
            if "delete_fails" in state.faults:
                return _error(500, "injected fault: delete_fails", service=state.name)
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

    def signed_in(username: str, password: str) -> str | None:
        """A new token for valid credentials (`login_rejected`: never)."""
        if "login_rejected" in state.faults or not store.check_password(username, password):
            return None
        return store.new_token(username)

    async def login(request: Request) -> Response:
        body = await _json_object(request)
        if body is None or not isinstance(body.get("username"), str) or not isinstance(body.get("password"), str):
            return _error(422, 'body must be {"username": str, "password": str}')
        token = signed_in(body["username"], body["password"])
        if token is None:
            return _error(401, "invalid credentials")
        return JSONResponse({"token": token, "token_type": "bearer"})

    async def oauth2_token(request: Request) -> Response:
        """The OAuth2 password grant (RFC 6749 4.3): a form in, `access_token` out."""
        form = await _form(request)
        if form.get("grant_type", "password") != "password" or not form.get("username") or "password" not in form:
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        token = signed_in(form["username"], form["password"])
        if token is None:
            return JSONResponse({"error": "invalid_grant"}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        return JSONResponse({"access_token": token, "token_type": "bearer", "expires_in": TOKEN_LIFETIME_S})

    async def me(request: Request) -> Response:
        return JSONResponse({"username": user_of(request)})

    async def logout(request: Request) -> Response:
        store.drop_token(request.headers["authorization"].partition(" ")[2])
        return Response(status_code=204)

    async def create_order(request: Request) -> Response:
        body = await _json_object(request)
        items_, problems = _validate_order(body)
        reference, problem = _reference(body)
        if problems or problem:
            return _error(422, "validation failed", details=problems + ([problem] if problem else []))
        total = round(sum(i["qty"] * i["price"] for i in items_), 2)
        order = store.add_order(items_, total, reference)
        return JSONResponse(order, status_code=201, headers={"Location": f"/v1/orders/{order['id']}"})

    async def get_order(request: Request) -> Response:
        order = None if "order_unreadable" in state.faults else store.order(request.path_params["id"])
        return JSONResponse(order) if order else _error(404, "order not found")

    async def delete_order(request: Request) -> Response:
        found = store.delete_order(request.path_params["id"])
        return Response(status_code=204) if found else _error(404, "order not found")

    async def create_payment(request: Request) -> Response:
        body = await _json_object(request)
        if body is None or not isinstance(body.get("order_id"), str) or not _is_number(body.get("amount")):
            return _error(422, 'body must be {"order_id": str, "amount": number}')
        key = request.headers.get("idempotency-key")
        if key:
            # A retry with the same key gets the payment of the first try: never charged twice.
            earlier = store.payment_by_key(key)
            if earlier is not None:
                return JSONResponse(earlier, status_code=200)
        if "payment_error" in state.faults:
            return _error(500, "injected fault: payment_error", service=state.name)
        order = store.order(body["order_id"])
        if order is None:
            return _error(404, "order not found")
        if abs(body["amount"] - order["total"]) > 0.005:
            return _error(422, "amount does not match order total", expected=order["total"])
        if order["status"] == "paid":
            return _error(409, "order already paid", payment_id=order["payment_id"])
        if "payment_declined" in state.faults:
            return _error(402, "card declined", service=state.name)
        payment = store.add_payment(order, key)
        return JSONResponse(payment, status_code=201, headers={"Location": f"/v1/payments/{payment['id']}"})

    async def get_payment(request: Request) -> Response:
        payment = store.payment(request.path_params["id"])
        return JSONResponse(payment) if payment else _error(404, "payment not found")

    async def refund_payment(request: Request) -> Response:
        found = store.refund(request.path_params["id"])
        return Response(status_code=204) if found else _error(404, "payment not found")

    async def create_report(request: Request) -> Response:
        body = await _json_object(request)
        kind = body.get("kind") if body else None
        if kind not in REPORT_KINDS:
            return _error(422, f"kind must be one of {list(REPORT_KINDS)}")
        reference, problem = _reference(body)
        if problem:
            return _error(422, problem)
        # Rows are a snapshot taken now (the orders with the reference, if one is given); the job "runs" a while.
        rows = store.count_orders(reference) if kind == "orders" else store.count_payments()
        if "report_empty" in state.faults:
            rows = 0
        delay = REPORT_SLOW_SECONDS if "report_slow" in state.faults else REPORT_DELAY_SECONDS
        report_id = store.add_report(kind, reference, rows, time.time() + delay)
        return JSONResponse(
            {"id": report_id, "kind": kind, "status": "pending"},
            status_code=202,
            headers={"Location": f"/v1/reports/{report_id}"},
        )

    async def get_report(request: Request) -> Response:
        report = store.report(request.path_params["id"])
        if report is None:
            return _error(404, "report not found")
        if time.time() < report["ready_at"]:
            return JSONResponse({"id": report["id"], "kind": report["kind"], "status": "pending"})
        return JSONResponse({"id": report["id"], "kind": report["kind"], "status": "done", "rows": report["rows"]})

    async def delete_report(request: Request) -> Response:
        found = store.delete_report(request.path_params["id"])
        return Response(status_code=204) if found else _error(404, "report not found")

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
        Route("/v1/auth/token", oauth2_token, methods=["POST"]),
        Route("/v1/auth/me", requires_token(me)),
        Route("/v1/auth/logout", requires_token(logout), methods=["POST"]),
        Route("/v1/orders", requires_token(create_order), methods=["POST"]),
        Route("/v1/orders/{id}", requires_token(get_order)),
        Route("/v1/orders/{id}", requires_token(deleting(delete_order)), methods=["DELETE"]),
        Route("/v1/payments", requires_token(create_payment), methods=["POST"]),
        Route("/v1/payments/{id}", requires_token(get_payment)),
        Route("/v1/payments/{id}", requires_token(deleting(refund_payment)), methods=["DELETE"]),
        Route("/v1/reports", requires_token(create_report), methods=["POST"]),
        Route("/v1/reports/{id}", requires_token(get_report)),
        Route("/v1/reports/{id}", requires_token(deleting(delete_report)), methods=["DELETE"]),
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
