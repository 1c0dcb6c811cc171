"""The admin server: inspect and switch fault modes at run time."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .faults import MODES, FaultError
from .runner import Service


def create_admin_app(services: dict[str, Service]) -> Starlette:
    """Admin API over the given services (name -> Service).

    GET  /faults            -> {"faults": {service: [modes...]}, "modes": {mode: description}}
    GET  /faults/{service}  -> {"service": name, "modes": [...]}
    POST /faults/{service}  <- {"modes": [...]} replaces the set ([] clears); answers
                               once the change is in effect (e.g. the port is down).
    GET  /store/{service}?reference=TEXT
                            -> {"service": name, "left": {"orders": n, "payments": n, "reports": n}, "tokens": n}:
                               the rows whose reference holds TEXT (a smoke run's id): what a cleanup missed
    GET  /services          -> {service: url}
    GET  /health            -> {"status": "healthy"}
    """

    def modes_of(service: Service) -> list[str]:
        return sorted(service.faults.modes)

    async def list_faults(request: Request) -> Response:
        return JSONResponse({"faults": {name: modes_of(s) for name, s in services.items()}, "modes": MODES})

    async def service_faults(request: Request) -> Response:
        name = request.path_params["service"]
        service = services.get(name)
        if service is None:
            return JSONResponse({"error": f"unknown service {name!r}"}, status_code=404)
        if request.method == "POST":
            try:
                body = await request.json()
            except ValueError:
                body = None
            modes = body.get("modes") if isinstance(body, dict) else None
            if not isinstance(modes, list) or not all(isinstance(m, str) for m in modes):
                return JSONResponse({"error": 'body must be {"modes": [str, ...]}'}, status_code=422)
            try:
                await service.apply_faults(modes)
            except FaultError as exc:
                return JSONResponse({"error": str(exc)}, status_code=422)
        return JSONResponse({"service": name, "modes": modes_of(service)})

    async def store(request: Request) -> Response:
        name = request.path_params["service"]
        service = services.get(name)
        reference = request.query_params.get("reference", "")
        if service is None:
            return JSONResponse({"error": f"unknown service {name!r}"}, status_code=404)
        if not reference:
            return JSONResponse({"error": "give ?reference=TEXT"}, status_code=422)
        store = service.state.store
        return JSONResponse({"service": name, "left": store.left_behind(reference), "tokens": store.token_count()})

    async def list_services(request: Request) -> Response:
        return JSONResponse({name: s.runner.url for name, s in services.items()})

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "healthy"})

    return Starlette(
        routes=[
            Route("/faults", list_faults),
            Route("/faults/{service:path}", service_faults, methods=["GET", "POST"]),
            Route("/store/{service:path}", store),
            Route("/services", list_services),
            Route("/health", health),
        ]
    )
