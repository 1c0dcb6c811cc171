"""The service's gRPC server answers the standard health check (`grpc.health.v1.Health/Check`) SERVING for its
overall health and each named gRPC service, within the deadline. Gathered up front with every other probe."""

from deploycheck.kinds.grpc import rules


def test_serving(grpc_health, verify):
    """Every gRPC service named in `grpc.services` answers SERVING; anything else fails, naming it."""
    verify(rules.serving(grpc_health))
