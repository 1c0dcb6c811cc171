"""Smoke tests of the local control plane: real rollouts, undo and Helm rollback.

kwok marks the pods on its fake nodes Running and Ready; nothing is pulled, so
the images are just names.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.workloads import deployment
from tools.k8s.cluster import ControlPlane, k8s_version

pytestmark = pytest.mark.cluster

IMAGE = "registry.example/demo"
ROLLOUT_TIMEOUT = "120s"


def deployed_image(cp: ControlPlane, ns: str, name: str) -> str:
    dep = cp.kubectl_json("get", "deployment", name, "-n", ns)
    return dep["spec"]["template"]["spec"]["containers"][0]["image"]


def current_replicaset(cp: ControlPlane, ns: str, name: str) -> dict[str, Any]:
    """The ReplicaSet of the deployment's current revision."""
    dep = cp.kubectl_json("get", "deployment", name, "-n", ns)
    revision = dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
    rsets = cp.kubectl_json("get", "replicasets", "-n", ns, "-l", f"app={name}")["items"]
    current = [rs for rs in rsets if rs["metadata"]["annotations"].get("deployment.kubernetes.io/revision") == revision]
    assert len(current) == 1, [rs["metadata"]["name"] for rs in rsets]
    return current[0]


def assert_pods_running_ready(cp: ControlPlane, ns: str, rs: dict[str, Any], image: str) -> None:
    pod_hash = rs["metadata"]["labels"]["pod-template-hash"]
    pods = cp.kubectl_json("get", "pods", "-n", ns, "-l", f"pod-template-hash={pod_hash}")["items"]
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    assert len(live) == rs["spec"]["replicas"], [p["metadata"]["name"] for p in pods]
    for pod in live:
        conditions = {c["type"]: c["status"] for c in pod["status"].get("conditions", [])}
        assert pod["status"]["phase"] == "Running", pod["metadata"]["name"]
        assert conditions.get("Ready") == "True", (pod["metadata"]["name"], conditions)
        assert pod["spec"]["nodeName"].startswith("kwok-node-")
        assert pod["spec"]["containers"][0]["image"] == image


def rollout_status(cp: ControlPlane, ns: str, name: str) -> None:
    cp.kubectl("rollout", "status", f"deployment/{name}", "-n", ns, f"--timeout={ROLLOUT_TIMEOUT}", timeout=150)


def test_server_version(kube_cluster: ControlPlane) -> None:
    version = kube_cluster.kubectl_json("version")
    assert version["serverVersion"]["gitVersion"] == k8s_version()
    nodes = kube_cluster.kubectl_json("get", "nodes")["items"]
    assert sorted(n["metadata"]["name"] for n in nodes) == sorted(kube_cluster.nodes)
    assert kube_cluster.kubectl("get", "namespace", "default").returncode == 0


def test_rollout_and_undo(kube_cluster: ControlPlane, kube_namespace: str) -> None:
    cp, ns = kube_cluster, kube_namespace
    cp.kubectl("apply", "-n", ns, "-f", "-", input=deployment("demo", f"{IMAGE}:v1", replicas=3))
    rollout_status(cp, ns, "demo")
    assert deployed_image(cp, ns, "demo") == f"{IMAGE}:v1"
    rs_v1 = current_replicaset(cp, ns, "demo")
    assert_pods_running_ready(cp, ns, rs_v1, f"{IMAGE}:v1")

    cp.kubectl("set", "image", "deployment/demo", f"app={IMAGE}:v2", "-n", ns)
    rollout_status(cp, ns, "demo")
    assert deployed_image(cp, ns, "demo") == f"{IMAGE}:v2"
    rs_v2 = current_replicaset(cp, ns, "demo")
    assert rs_v2["metadata"]["name"] != rs_v1["metadata"]["name"]
    assert rs_v2["status"].get("readyReplicas") == 3
    assert_pods_running_ready(cp, ns, rs_v2, f"{IMAGE}:v2")
    old = cp.kubectl_json("get", "replicaset", rs_v1["metadata"]["name"], "-n", ns)
    assert old["spec"]["replicas"] == 0

    cp.kubectl("rollout", "undo", "deployment/demo", "-n", ns)
    rollout_status(cp, ns, "demo")
    assert deployed_image(cp, ns, "demo") == f"{IMAGE}:v1"
    rs_back = current_replicaset(cp, ns, "demo")
    # The undo reuses the v1 ReplicaSet, now at revision 3.
    assert rs_back["metadata"]["name"] == rs_v1["metadata"]["name"]
    assert rs_back["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert rs_back["status"].get("readyReplicas") == 3
    assert_pods_running_ready(cp, ns, rs_back, f"{IMAGE}:v1")
    dep = cp.kubectl_json("get", "deployment", "demo", "-n", ns)
    assert dep["status"]["availableReplicas"] == 3
    assert dep["status"]["updatedReplicas"] == 3

    # The controllers recorded the rollout as events.
    events = cp.kubectl_json("get", "events", "-n", ns, "--field-selector", "involvedObject.kind=Deployment")["items"]
    reasons = {e["reason"] for e in events}
    assert "ScalingReplicaSet" in reasons, reasons


CHART_YAML = """\
apiVersion: v2
name: demo
version: 0.1.0
appVersion: "1"
"""

VALUES_YAML = f"""\
replicas: 2
image:
  repository: {IMAGE}
  tag: v1
"""

DEPLOYMENT_TEMPLATE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  labels:
    app: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels:
      app: {{ .Release.Name }}
  template:
    metadata:
      labels:
        app: {{ .Release.Name }}
    spec:
      containers:
      - name: app
        image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
"""


def make_chart(root: Path) -> Path:
    chart = root / "demo-chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(CHART_YAML)
    (chart / "values.yaml").write_text(VALUES_YAML)
    (chart / "templates" / "deployment.yaml").write_text(DEPLOYMENT_TEMPLATE)
    return chart


def test_helm_upgrade_and_rollback(kube_cluster: ControlPlane, kube_namespace: str, helm: str, tmp_path: Path) -> None:
    cp, ns = kube_cluster, kube_namespace
    chart = make_chart(tmp_path)
    wait = ("--wait", "--timeout", ROLLOUT_TIMEOUT)

    cp.helm("install", "rel", str(chart), "-n", ns, *wait)
    assert deployed_image(cp, ns, "rel") == f"{IMAGE}:v1"

    cp.helm("upgrade", "rel", str(chart), "-n", ns, "--set", "image.tag=v2", *wait)
    assert deployed_image(cp, ns, "rel") == f"{IMAGE}:v2"
    assert_pods_running_ready(cp, ns, current_replicaset(cp, ns, "rel"), f"{IMAGE}:v2")

    cp.helm("rollback", "rel", "1", "-n", ns, *wait)
    assert deployed_image(cp, ns, "rel") == f"{IMAGE}:v1"
    rollout_status(cp, ns, "rel")
    assert_pods_running_ready(cp, ns, current_replicaset(cp, ns, "rel"), f"{IMAGE}:v1")

    history = json.loads(cp.helm("history", "rel", "-n", ns, "-o", "json").stdout)
    assert [h["revision"] for h in history] == [1, 2, 3]
    assert history[-1]["status"] == "deployed"
    assert "Rollback to 1" in history[-1]["description"]
    assert [h["status"] for h in history[:2]] == ["superseded", "superseded"]


def test_kube_namespace_is_fresh(kube_cluster: ControlPlane, kube_namespace: str) -> None:
    """The fixture's namespace is empty and ready for pods."""
    assert kube_cluster.kubectl_json("get", "pods", "-n", kube_namespace)["items"] == []
    sas = kube_cluster.kubectl_json("get", "serviceaccounts", "-n", kube_namespace)["items"]
    assert [sa["metadata"]["name"] for sa in sas] == ["default"]
