"""The gRPC health probe: one request per service, planned from its `grpc` section."""

from __future__ import annotations

from typing import Any

from deploycheck.config.loader import Environment, Service
from deploycheck.evidence.base import Evidence
from deploycheck.evidence.probe import GatherSettings, Probe
from deploycheck.evidence.registry import register, register_session
from deploycheck.findings import Outcome
from deploycheck.kinds.grpc import rules
from deploycheck.kinds.grpc.config import Grpc
from deploycheck.kinds.grpc.session import GrpcRequest, GrpcSession
from deploycheck.tls import TlsOptions


def plan_grpc(environment: Environment, service: Service | None, settings: GatherSettings) -> Any:
    section: Grpc | None = service.section("grpc") if service is not None else None
    if section is None:
        return None
    tls = None
    if section.tls is not None:

        def path(value: object) -> str | None:
            return str(value) if value is not None else None

        tls = TlsOptions(path(section.tls.ca_file), path(section.tls.cert_file), path(section.tls.key_file))
    return GrpcRequest(section.target, tuple(section.services), section.timeout, tls)


register_session("grpc", GrpcSession)


def all_serving(evidence: Evidence, service: Service | None) -> bool:
    """What `--wait-ready` waits for: every named gRPC service SERVING."""
    return rules.serving(evidence).outcome is Outcome.PASSED


register(Probe("grpc_health", "grpc", "grpc", plan_grpc, good=all_serving))
