"""A real gRPC server for the tests: grpcio's standard health servicer on a free loopback port, in a thread, with
an overall status and named services the test sets, and one named service whose Check never answers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

SILENT = "silent.v1.Silent"  # its Check waits until the server stops: the client's deadline must end it


class _Health(health.HealthServicer):
    def __init__(self, stopped: threading.Event) -> None:
        super().__init__()
        self._stopped = stopped

    def Check(self, request: Any, context: Any) -> Any:
        if request.service == SILENT:
            self._stopped.wait(30)
        return super().Check(request, context)


@dataclass
class GrpcServer:
    target: str
    servicer: health.HealthServicer

    def set(self, service: str, status: str) -> None:
        self.servicer.set(service, health_pb2.HealthCheckResponse.ServingStatus.Value(status))


@contextmanager
def grpc_health_server(statuses: dict[str, str], tls: tuple[str, str] | None = None) -> Iterator[GrpcServer]:
    """Serve `statuses` (gRPC service name -> SERVING / NOT_SERVING; "" the overall health), over TLS with
    (certificate chain file, key file) when given."""
    stopped = threading.Event()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    servicer = _Health(stopped)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    if tls is None:
        port = server.add_insecure_port("127.0.0.1:0")
    else:
        chain, key = (Path(path).read_bytes() for path in tls)
        port = server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([(key, chain)]))
    running = GrpcServer(f"127.0.0.1:{port}" if tls is None else f"localhost:{port}", servicer)
    for service, status in statuses.items():
        running.set(service, status)
    server.start()
    try:
        yield running
    finally:
        stopped.set()
        server.stop(grace=None).wait(5)
