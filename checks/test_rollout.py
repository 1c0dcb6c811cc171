"""The rollout in the cluster: complete, its pods ready, few restarts, the expected image deployed."""

import pytest

from deploycheck.kinds.kubernetes import rules


def test_complete(target, rollout, verify):
    deployment_only(target)
    verify(rules.complete(rollout))


def test_pods_ready(target, rollout, verify):
    verify(rules.pods_ready(rollout))


def test_restarts(target, rollout, verify):
    resources = target.run.configured.services[target.name].resources
    limit = resources.max_restarts if resources is not None and resources.max_restarts is not None else 0
    verify(rules.restarts(rollout, limit))


def test_image_matches(target, rollout, verify):
    deployment_only(target)
    if not target.expected_version or target.expected_version_origin == "deployed image":
        pytest.skip("no expected version: pass --expected-version or set EXPECTED_VERSION")
    verify(rules.image_matches(rollout, target.expected_version))


def deployment_only(target):
    if target.require("kubernetes").deployment is None:
        pytest.skip(f"{target.id}: no `kubernetes.deployment` configured (pods by selector only)")
