"""Fixtures of the cluster tier: a real Kubernetes control plane on loopback.

``kube_cluster`` (session): a started :class:`tools.k8s.cluster.ControlPlane`
(etcd, kube-apiserver, controller-manager, scheduler, kwok fake nodes).  The
tests using it are skipped with the reason when the binaries are not built
(``bash tools/k8s/build.sh``) -- unless DEPLOYCHECK_REQUIRE_CLUSTER=1, which
turns the skip into a failure (for CI, where the tier must run).

``kube_namespace`` (function): a fresh namespace, ready for pods, deleted
afterwards.

``helm`` (session): the built helm binary; missing, the test is skipped or (with
DEPLOYCHECK_REQUIRE_CLUSTER=1) failed, like the cluster itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.processes import unavailable
from tools.k8s.cluster import ControlPlane

startup_key = pytest.StashKey[dict[str, float]]()  # how long each part of the control plane took to start


@pytest.fixture(scope="session")
def kube_cluster(pytestconfig: pytest.Config) -> Iterator[ControlPlane]:
    ok, reason = ControlPlane.available()
    if not ok:
        unavailable(reason, "DEPLOYCHECK_REQUIRE_CLUSTER")
    cluster = ControlPlane()
    cluster.start()
    pytestconfig.stash[startup_key] = dict(cluster.timings)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def helm(kube_cluster: ControlPlane) -> str:
    """The helm binary tools/k8s/build.sh built beside the control plane."""
    if kube_cluster.helm_path is None:
        unavailable("helm is not built (tools/k8s/build.sh)", "DEPLOYCHECK_REQUIRE_CLUSTER")
    return kube_cluster.helm_path


@pytest.fixture
def kube_namespace(kube_cluster: ControlPlane) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:10]}"
    kube_cluster.kubectl("create", "namespace", name)
    # Pods are rejected until the ServiceAccount controller made "default".
    kube_cluster.kubectl("wait", "--for=create", f"--namespace={name}", "serviceaccount/default", "--timeout=30s")
    try:
        yield name
    finally:
        kube_cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    _startup = config.stash.get(startup_key, None)
    if _startup:
        phases = ", ".join(f"{k} {v:.1f}s" for k, v in _startup.items() if k != "total")
        terminalreporter.write_line(
            f"kube_cluster: control plane ready in {_startup['total']:.1f}s ({phases}, cumulative)"
        )
