"""Liveness and readiness: each endpoint answers with the expected status and body."""

import pytest

from deploycheck import judge


@pytest.mark.probe("health")
def test_liveness(target, verify):
    """The health endpoint says the service is alive, e.g. 200 {"status": "healthy"}."""
    spec = target.require("health")
    verify(judge.endpoint(target.evidence("health"), spec))


@pytest.mark.probe("ready")
def test_readiness(target, verify):
    """The readiness endpoint says the service takes traffic."""
    spec = target.require("ready")
    verify(judge.endpoint(target.evidence("ready"), spec))
