"""The real Argo Rollouts controller (built from its Go module by scripts/build_argo_rollouts.sh) against the test
control plane, its analysis calling `deploycheck serve` on loopback through the shipped AnalysisTemplate's `web`
metric: a healthy demo service is promoted, one serving the wrong version has its AnalysisRun Failed and the
rollout aborted, one whose evidence is missing has it Inconclusive and the rollout paused (the hold).

kwok runs no containers: the pods of each revision are Ready on fake nodes, and what the analysis judges is the
demo service behind the server's environment file, as a real canary's Service would be."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploycheck.children import stop
from tests.cluster.test_manifests import crds  # noqa: F401  (the fixture: the engines' CRDs applied)
from tests.conftest import REPO, write_environment
from tests.polling import until
from tests.processes import unavailable
from tools.k8s.cluster import ControlPlane

TOKEN = "rollouts-test-token-91c"
SERVICES = {"api-gateway": "Successful", "orders": "Failed", "ghost": "Inconclusive"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def controller(kube_cluster: ControlPlane, crds: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:  # noqa: F811
    built = subprocess.run(
        ["bash", str(REPO / "scripts" / "build_argo_rollouts.sh"), "--cached-only"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    if built.returncode != 0:
        why = (
            f"the Argo Rollouts controller is not built (scripts/build_argo_rollouts.sh): {built.stderr.strip()[-300:]}"
        )
        unavailable(why, "DEPLOYCHECK_REQUIRE_CLUSTER")  # CI builds it with the cluster tier
    log = tmp_path_factory.mktemp("argo-rollouts") / "controller.log"
    command = [built.stdout.strip(), f"--kubeconfig={kube_cluster.kubeconfig}", "--leader-elect=false",
               f"--metricsport={free_port()}", f"--healthzPort={free_port()}"]  # fmt: skip
    with log.open("w") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=kube_cluster.env)
    try:
        yield log
    finally:
        stop(process)


@pytest.fixture
def server(start_demo, tmp_path) -> Iterator[tuple[str, Path]]:
    """`deploycheck serve` on loopback, for a demo where orders serves the wrong version and ghost has nothing
    that can be judged."""
    running = start_demo("api-gateway", "orders", faults={"orders": ["wrong_version"]})
    services: dict[str, dict[str, Any]] = {name: {"url": url} for name, url in running.urls.items()}
    services["ghost"] = {"url": "http://127.0.0.1:9", "health": None, "ready": None, "version": None}
    environments = write_environment(tmp_path / "environments", "staging", services)
    checks = [f"--pytest-arg={REPO / 'checks' / name}" for name in ("test_health.py", "test_version.py")]
    command = [sys.executable, "-m", "deploycheck", "serve", "--port", "0", "--project", str(REPO),
               "--environments-dir", str(environments), "--answer-within", "5s", *checks]  # fmt: skip
    with (tmp_path / "serve.log").open("w") as sink:
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=sink,
            text=True,
            env={**os.environ, "DEPLOYCHECK_SERVE_TOKEN": TOKEN},
        )
    assert process.stdout is not None
    try:
        yield json.loads(process.stdout.readline())["listening"], tmp_path / "serve.log"
    finally:
        process.terminate()
        process.wait(10)
        process.stdout.close()


def analysis_template(url: str) -> str:
    """The shipped template, pointed at the server on loopback and asking every 2 s instead of 10."""
    document = yaml.safe_load((REPO / "integrations" / "argo-rollouts" / "analysis-template.yaml").read_text())
    metric = document["spec"]["metrics"][0]
    metric["interval"] = "2s"
    metric["provider"]["web"]["url"] = metric["provider"]["web"]["url"].replace(
        "http://deploycheck.deploycheck.svc:8080", url
    )
    return yaml.safe_dump(document)


def rollout(name: str, tag: str) -> str:
    version = "" if name == "ghost" else "v2.3.1"
    args = [{"name": "environment", "value": "staging"}, {"name": "service", "value": name},
            {"name": "version", "value": version}]  # fmt: skip
    return json.dumps({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": f"registry.example/{name}:{tag}"}]},
            },
            "strategy": {"canary": {"steps": [
                {"setWeight": 50},
                {"analysis": {"templates": [{"templateName": "deploycheck"}], "args": args}},
            ]}},
        },
    })  # fmt: skip


def wait_for(what: str, check: Any, timeout: float = 120.0) -> Any:
    return until(what, check, timeout_s=timeout, every_s=1.0)  # the controller works in seconds


def test_the_controller_promotes_aborts_or_pauses_as_deploycheck_says(kube_cluster, kube_namespace, controller, server):
    ns = kube_namespace
    url, log = server
    secret = ["create", "secret", "generic", "deploycheck-serve", f"--from-literal=token={TOKEN}", "-n", ns]
    kube_cluster.kubectl(*secret)
    kube_cluster.kubectl("apply", "-n", ns, "-f", "-", input=analysis_template(url))
    for name in SERVICES:  # the first revision is promoted without analysis, as Argo does
        kube_cluster.kubectl("apply", "-n", ns, "-f", "-", input=rollout(name, "v1"))
    for name in SERVICES:
        wait_for(f"{name} v1 healthy", lambda name=name: phase(kube_cluster, ns, name) == "Healthy")
    for name in SERVICES:  # the new revision: canary at 50 %, then deploycheck's analysis
        kube_cluster.kubectl("apply", "-n", ns, "-f", "-", input=rollout(name, "v2"))

    runs = wait_for("three finished AnalysisRuns", lambda: finished_runs(kube_cluster, ns), timeout=150)

    assert runs == SERVICES, controller.read_text()[-3000:]
    assert wait_for("api-gateway promoted", lambda: phase(kube_cluster, ns, "api-gateway") == "Healthy")
    assert stable_image(kube_cluster, ns, "api-gateway") == "registry.example/api-gateway:v2"
    orders = wait_for(
        "orders aborted", lambda: status(kube_cluster, ns, "orders").get("abort") and status(kube_cluster, ns, "orders")
    )
    assert orders["phase"] == "Degraded" and stable_image(kube_cluster, ns, "orders").endswith(":v1")
    ghost = wait_for(
        "ghost paused",
        lambda: status(kube_cluster, ns, "ghost").get("pauseConditions") and status(kube_cluster, ns, "ghost"),
    )
    assert [c["reason"] for c in ghost["pauseConditions"]] == ["InconclusiveAnalysisRun"]
    assert ghost["phase"] == "Paused" and not ghost.get("abort")
    answered = log.read_text()  # the controller asked deploycheck serve, with the token from the Secret
    for line in ("staging/api-gateway@v2.3.1 -> 200 PASS", "staging/orders@v2.3.1 -> 200 FAIL",
                 "staging/ghost -> 200 INCONCLUSIVE"):  # fmt: skip
        assert f"GET /argo {line}" in answered, answered


def status(cluster: ControlPlane, ns: str, name: str) -> dict[str, Any]:
    return dict(cluster.kubectl_json("get", "rollout", name, "-n", ns).get("status", {}))


def phase(cluster: ControlPlane, ns: str, name: str) -> str | None:
    return status(cluster, ns, name).get("phase")


def stable_image(cluster: ControlPlane, ns: str, name: str) -> str:
    stable = status(cluster, ns, name)["stableRS"]
    for replica_set in cluster.kubectl_json(
        "get", "replicasets", "-n", ns, "-l", f"rollouts-pod-template-hash={stable}"
    )["items"]:
        return str(replica_set["spec"]["template"]["spec"]["containers"][0]["image"])
    raise AssertionError(f"no ReplicaSet {stable}")


def finished_runs(cluster: ControlPlane, ns: str) -> dict[str, str] | None:
    found = {}
    for run in cluster.kubectl_json("get", "analysisruns", "-n", ns)["items"]:
        phase = run.get("status", {}).get("phase", "")
        if phase in ("Successful", "Failed", "Inconclusive", "Error"):
            found[run["metadata"]["ownerReferences"][0]["name"]] = phase
    return found if len(found) == len(SERVICES) else None
