"""Workloads for the cluster tests: Deployments rolled out on kwok's fake nodes, pods put into a state kwok
never reaches by itself (crash-looping), a service account with less than every right, and the bridge between
the cluster and the demo: kwok runs no containers, so `Follower` plays the containers' part, putting the
demo service into the fault modes of whichever image (or colour) the cluster serves."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from deploycheck.kinds.kubernetes.session import ClusterAccess, new_client
from tests.conftest import set_faults
from tools.k8s.cluster import ControlPlane

REGISTRY = "registry.example"


def deployment(name: str, image: str, replicas: int = 2, **spec: Any) -> str:
    """A Deployment manifest; `spec` adds to its spec (progressDeadlineSeconds, ...); `pod_spec` to its pods'."""
    pod_spec = {"containers": [{"name": "app", "image": image}], **spec.pop("pod_spec", {})}
    return json.dumps(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "labels": {"app": name}},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec},
                **spec,
            },
        }
    )


def deploy(cp: ControlPlane, ns: str, name: str, tag: str, wait: bool = True, **spec: Any) -> None:
    cp.kubectl("apply", "-n", ns, "-f", "-", input=deployment(name, f"{REGISTRY}/{name}:{tag}", **spec))
    if wait:
        rollout_status(cp, ns, name)


def set_image(cp: ControlPlane, ns: str, name: str, tag: str) -> None:
    cp.kubectl("set", "image", f"deployment/{name}", f"app={REGISTRY}/{name}:{tag}", "-n", ns)
    rollout_status(cp, ns, name)


def rollout_status(cp: ControlPlane, ns: str, name: str) -> None:
    cp.kubectl("rollout", "status", f"deployment/{name}", "-n", ns, "--timeout=60s", timeout=70)


def image_of(cp: ControlPlane, ns: str, name: str) -> str:
    found = cp.kubectl_json("get", "deployment", name, "-n", ns)
    return str(found["spec"]["template"]["spec"]["containers"][0]["image"])


def revision_of(cp: ControlPlane, ns: str, name: str) -> str:
    found = cp.kubectl_json("get", "deployment", name, "-n", ns)
    return str(found["metadata"]["annotations"]["deployment.kubernetes.io/revision"])


def crash_loop(cp: ControlPlane, ns: str, name: str) -> None:
    """Every pod of the Deployment's current image crash-looping, as a kubelet would report it."""
    image = image_of(cp, ns, name)
    for pod in cp.kubectl_json("get", "pods", "-n", ns, "-l", f"app={name}")["items"]:
        if pod["spec"]["containers"][0]["image"] != image:
            continue
        status = {
            "conditions": [{"type": "Ready", "status": "False"}, {"type": "ContainersReady", "status": "False"}],
            "containerStatuses": [
                {
                    "name": "app",
                    "image": image,
                    "imageID": "",
                    "ready": False,
                    "restartCount": 5,
                    "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 2m40s"}},
                    "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}},
                }
            ],
        }
        patch = json.dumps({"status": status})
        cp.kubectl("patch", "pod", pod["metadata"]["name"], "-n", ns, "--subresource=status", "-p", patch)


def limited_kubeconfig(cp: ControlPlane, ns: str, path: Path, verbs: list[str]) -> Path:
    """A kubeconfig of a service account allowed only `verbs` on the namespace's workloads (real RBAC)."""
    rules = [
        {"apiGroups": ["apps"], "resources": ["deployments", "replicasets"], "verbs": verbs},
        {"apiGroups": [""], "resources": ["pods", "events", "services"], "verbs": ["get", "list"]},
    ]
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "reader"},
        "rules": rules,
    }
    cp.kubectl("create", "serviceaccount", "deploycheck", "-n", ns)
    cp.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(role))
    cp.kubectl("create", "rolebinding", "deploycheck", "-n", ns, "--role=reader", f"--serviceaccount={ns}:deploycheck")
    return token_kubeconfig(cp, ns, "deploycheck", path)


def token_kubeconfig(cp: ControlPlane, ns: str, account: str, path: Path) -> Path:
    """A kubeconfig that logs in with a token of the service account `account` of namespace `ns`."""
    token = cp.kubectl("create", "token", account, "-n", ns).stdout.strip()
    assert cp.workdir is not None
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {"name": "c", "cluster": {"server": cp.server, "certificate-authority": str(cp.workdir / "ca.crt")}}
                ],
                "users": [{"name": "deploycheck", "user": {"token": token}}],
                "contexts": [{"name": "limited", "context": {"cluster": "c", "user": "deploycheck", "namespace": ns}}],
                "current-context": "limited",
            }
        )
    )
    return path


class Follower:
    """Puts the demo service into the fault modes of what the cluster serves, as the real containers would behave
    (kwok runs none): keyed by the image tag a Deployment runs (v2 unhealthy, v1 healthy), or by the colour a
    Service selects (blue-green). A thread polling the cluster while the test runs."""

    def __init__(
        self,
        cp: ControlPlane,
        ns: str,
        demo: Any,
        service: str,
        modes: dict[str, list[str]],
        deployment: str | None = None,
        selector_of: str | None = None,
    ) -> None:
        from kubernetes import client

        api = new_client(ClusterAccess(str(cp.kubeconfig)))
        self.apps, self.core = client.AppsV1Api(api), client.CoreV1Api(api)
        self.ns, self.demo, self.service, self.modes = ns, demo, service, modes
        self.deployment, self.selector_of = deployment, selector_of
        self.applied: str | None = None
        self._stop = threading.Event()
        self._follow_once()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _key(self) -> str:
        if self.selector_of is not None:
            found = self.core.read_namespaced_service(self.selector_of, self.ns, _request_timeout=5)
            return str(found.spec.selector.get("colour"))
        found = self.apps.read_namespaced_deployment(self.deployment, self.ns, _request_timeout=5)
        return str(found.spec.template.spec.containers[0].image.rsplit(":", 1)[1])

    def _follow_once(self) -> None:
        key = self._key()
        if key != self.applied and key in self.modes:
            set_faults(self.demo, self.service, self.modes[key])
            self.applied = key

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            try:
                self._follow_once()
            except Exception:  # the test's own assertions say what went wrong; keep following
                continue

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
