"""Liveness and readiness: each endpoint answers with the expected status and body."""

from deploycheck.kinds.http import rules


def test_liveness(target, health, verify):
    """The health endpoint says the service is alive, e.g. 200 {"status": "healthy"}."""
    verify(rules.endpoint(health, target.service.health))


def test_readiness(target, ready, verify):
    """The readiness endpoint says the service takes traffic."""
    verify(rules.endpoint(ready, target.service.ready))
