"""The gRPC kind's section: `grpc` of a service (the target, the named gRPC services to ask, TLS)."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from deploycheck.config.types import FilePath, Section, Text, Timeout


class GrpcTls(Section):
    """TLS to the gRPC target, trusted by the suite's one rule (`ca_file`, else $SSL_CERT_FILE, ...)."""

    ca_file: FilePath | None = Field(default=None, description="CA bundle (PEM) to trust")
    cert_file: FilePath | None = Field(default=None, description="client certificate (PEM)")
    key_file: FilePath | None = Field(default=None, description="its private key (PEM)")

    @model_validator(mode="after")
    def _key_with_certificate(self) -> Self:
        if (self.key_file is None) != (self.cert_file is None):
            raise ValueError("a client certificate needs both `cert_file` and `key_file`")
        return self


class Grpc(Section):
    """The service's gRPC health (the standard `grpc.health.v1` protocol)."""

    target: Text = Field(description="host:port of the gRPC server", examples=["orders.internal:50051"])
    services: list[str] = Field(
        default_factory=lambda: [""],
        description='gRPC service names to ask; "" is the server\'s overall health',
        examples=[["", "orders.v1.Orders"]],
    )
    timeout: Timeout = Field(default=3.0, description="deadline of each Check", examples=["3s"])
    tls: GrpcTls | None = Field(
        default=None, description="TLS (plaintext when absent)", examples=[{"ca_file": "ca.pem"}]
    )

    @model_validator(mode="after")
    def _something_to_ask(self) -> Self:
        if not self.services:
            raise ValueError('`services` must name at least one gRPC service ("" is the overall health)')
        if len(set(self.services)) != len(self.services):
            raise ValueError("`services` names a gRPC service twice")
        if ":" not in self.target:
            raise ValueError("`target` must be host:port")
        return self
