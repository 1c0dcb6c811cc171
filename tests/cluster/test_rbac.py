"""The least RBAC of docs/kubernetes.md, applied as the docs write it to a real control plane: the checks-only
account reads every rollout check and its rollback is refused by the API server and reported; with the rollback
Role bound too, the rollback goes through."""

from __future__ import annotations

import re

import pytest

from tests.cluster.test_rollout_suite import ROLLOUT_CHECKS, V2, orders  # noqa: F401 (a fixture)
from tests.cluster.workloads import image_of, set_image, token_kubeconfig
from tests.conftest import REPO

pytestmark = pytest.mark.cluster

DOCS = REPO / "docs" / "kubernetes.md"


def documented_rbac(heading: str, namespace: str) -> str:
    """The first YAML block after `heading` in docs/kubernetes.md, for `namespace` instead of the docs' `shop`."""
    text = DOCS.read_text(encoding="utf-8")
    after = text[text.index(heading) :]
    block = re.search(r"```yaml\n(.*?)```", after, re.S)
    assert block is not None, f"no YAML block after {heading!r} in {DOCS}"
    return block.group(1).replace("namespace: shop", f"namespace: {namespace}")


@pytest.fixture
def account(kube_cluster, kube_namespace, tmp_path):
    """grant(*headings) -> a kubeconfig of the `deploycheck` service account bound to the documented Roles."""

    def grant(*headings: str):
        for heading in headings:
            kube_cluster.kubectl("apply", "-f", "-", input=documented_rbac(heading, kube_namespace))
        return token_kubeconfig(kube_cluster, kube_namespace, "deploycheck", tmp_path / "deploycheck.kubeconfig")

    return grant


def test_the_checks_only_account_reads_every_rollout_check(
    kube_cluster,
    kube_namespace,
    orders,  # noqa: F811 (the fixture imported above)
    account,
    run_suite,
    workers,
):
    environments = orders(modes_of_v2=[], kubeconfig=account("**Checks only**"))
    set_image(kube_cluster, kube_namespace, "orders", V2)

    run = run_suite(environments, "--env", "production", "--expected-version", V2, "-k", "rollout", workers=workers)

    assert run.ret == 0, run.stdout
    assert {check: run.outcomes()[("orders", check)] for check in ROLLOUT_CHECKS} == dict.fromkeys(
        ROLLOUT_CHECKS, "passed"
    )


def test_the_checks_only_account_cannot_roll_back_and_the_verdict_says_so(
    kube_cluster,
    kube_namespace,
    orders,  # noqa: F811 (the fixture imported above)
    account,
    run_suite,
):
    environments = orders(kubeconfig=account("**Checks only**"))
    set_image(kube_cluster, kube_namespace, "orders", V2)

    run = run_suite(environments, "--env", "production", "--rollback", "--approve")

    assert run.ret == 7, run.stdout
    [action] = run.verdict["actions"]
    assert action["result"] == "failed"
    assert f"forbidden (403) to patch deployments.apps in namespace {kube_namespace}" in action["reason"]
    assert image_of(kube_cluster, kube_namespace, "orders") == f"registry.example/orders:{V2}"
    assert run.outcomes()[("orders", "rollout.complete")] == "passed"


def test_with_the_rollback_role_bound_too_the_rollback_goes_through(
    kube_cluster,
    kube_namespace,
    orders,  # noqa: F811 (the fixture imported above)
    account,
    run_suite,
):
    environments = orders(kubeconfig=account("**Checks only**", "**Checks and rollback**"))
    set_image(kube_cluster, kube_namespace, "orders", V2)

    run = run_suite(environments, "--env", "production", "--rollback", "--approve")

    assert run.ret == 1, run.stdout  # v2 failed; the rollback went through and recovered
    [action] = run.verdict["actions"]
    assert action["result"] == "rolled back" and action["recovered"] is True, action
