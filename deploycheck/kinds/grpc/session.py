"""gRPC health evidence: one grpc.aio channel per request, one `Health/Check` per named gRPC service, at once.

`GrpcSession.fetch` never raises (except on cancellation): each named service's answer is its status
(SERVING, NOT_SERVING, SERVICE_UNKNOWN, ...) or why none came, one line: `unreachable: ...` (UNAVAILABLE: nothing
listens, not a gRPC server, TLS refused), `no answer within <t>s` (DEADLINE_EXCEEDED), `unknown service` (NOT_FOUND:
the server has no health status for that name), `error <CODE>: ...`. grpc is imported only here, when a `grpc`
section is asked.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from deploycheck.evidence.base import Evidence
from deploycheck.tls import TlsOptions, trusted

MAX_DETAIL = 200  # characters of a gRPC error's details kept
CLOSE_S = 1.0  # beyond the Checks' deadline, for the channel to close


@dataclass(frozen=True)
class GrpcRequest:
    target: str
    services: tuple[str, ...]
    timeout_s: float
    tls: TlsOptions | None = None  # None: plaintext

    @property
    def deadline_s(self) -> float:
        return self.timeout_s + CLOSE_S  # every Check at once, then the channel closed

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = {
            "kind": "grpc",
            "method": "grpc.health.v1.Health/Check",
            "target": self.target,
            "services": list(self.services),
            "timeout_s": self.timeout_s,
            "tls": self.tls is not None,
        }
        if self.tls is not None:
            described["ca_file"] = trusted(self.tls)
        return described


def credentials(tls: TlsOptions) -> Any:
    """grpc's channel credentials from the same files as every other TLS client of the suite."""
    import grpc

    def read(path: str | None) -> bytes | None:
        return Path(path).read_bytes() if path else None

    return grpc.ssl_channel_credentials(read(trusted(tls)), read(tls.key_file), read(tls.cert_file))


class GrpcSession:
    async def __aenter__(self) -> GrpcSession:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        return None

    async def fetch(self, request: GrpcRequest) -> Evidence:
        os.environ.setdefault("GRPC_VERBOSITY", "NONE")  # grpc's own log lines on stderr: the evidence says it all
        import grpc
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        started = time.monotonic()
        try:
            creds = credentials(request.tls) if request.tls is not None else None
        except OSError as error:
            return Evidence(request.describe(), error=f"cannot read a TLS file: {error.strerror}: {error.filename}")
        channel = grpc.aio.secure_channel(request.target, creds) if creds else grpc.aio.insecure_channel(request.target)

        async def check(service: str) -> dict[str, Any]:
            asked = time.monotonic()
            stub = health_pb2_grpc.HealthStub(channel)
            try:
                answer = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=request.timeout_s)
                status: dict[str, Any] = {"status": health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)}
            except grpc.aio.AioRpcError as error:
                status = {"status": None, "error": _why(error, request.timeout_s)}
            except (grpc.RpcError, ValueError) as error:  # a target grpc cannot use: the evidence, never raised
                status = {"status": None, "error": f"error: {type(error).__name__}: {str(error)[:MAX_DETAIL]}"}
            status["round_trip_ms"] = round((time.monotonic() - asked) * 1000, 1)
            return status

        try:
            answers = await asyncio.wait_for(
                asyncio.gather(*(check(service) for service in request.services)), request.deadline_s
            )
        except TimeoutError:
            answers = [{"status": None, "error": f"no answer within {request.timeout_s:g}s"}] * len(request.services)
        finally:
            await channel.close()
        value = {"target": request.target, "services": dict(zip(request.services, answers, strict=True))}
        return Evidence(request.describe(), value=value, elapsed_ms=(time.monotonic() - started) * 1000)


def _why(error: Any, timeout_s: float) -> str:
    import grpc

    code = error.code()
    details = (error.details() or "").splitlines()[0][:MAX_DETAIL] if error.details() else ""
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return f"no answer within {timeout_s:g}s"
    if code == grpc.StatusCode.UNAVAILABLE:
        return f"unreachable: {details}"
    if code == grpc.StatusCode.NOT_FOUND:
        return "unknown service: the server has no health status for it"
    return f"error {code.name}: {details}"
