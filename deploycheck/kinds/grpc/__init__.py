"""The gRPC kind: each service's gRPC health (`grpc.health.v1.Health/Check`), per named gRPC service."""
