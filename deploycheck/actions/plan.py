"""A rollback's plan, read from the cluster before anything changes: which object, from what to what.

Recorded before acting, so the verdict can say exactly what was restored (revision, image, release revision,
selector); a plan that cannot be made (no previous revision, the API refused) says why, and nothing is done.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any

from deploycheck.config.loader import Environment, Service
from deploycheck.config.sections import Rollback
from deploycheck.kinds.kubernetes.probes import access_of, namespace_of
from deploycheck.kinds.kubernetes.session import REVISION, ApiProblem, ClusterAccess, api_call, new_client

API_TIMEOUT_S = 10.0
HELM_ENV = "DEPLOYCHECK_HELM"  # the helm binary, when not the one on PATH


@dataclass(frozen=True)
class Plan:
    service: str
    strategy: str
    namespace: str
    target: str  # the object changed: "Deployment prod/api", "Helm release prod/api", "Service prod/api"
    current: str  # what runs now: "revision 2 (registry/api:v2)"
    restore: str  # what the rollback returns to
    details: dict[str, Any] = field(default_factory=dict)  # what the strategy needs to act, and verify with
    problem: str | None = None  # why it cannot be done

    def describe(self) -> str:
        return f"{self.target}: {self.current} -> {self.restore}"


def plan(environment: Environment, service: Service) -> Plan:
    rollback = service.rollback
    assert rollback is not None
    namespace = namespace_of(environment, service)
    access = access_of(environment)
    maker = {"kubernetes": _kubernetes, "helm": _helm, "blue-green": _blue_green}.get(rollback.strategy)
    if maker is None:
        return Plan(service.name, "none", namespace, "-", "-", "-", problem="`rollback.strategy: none`: nothing to do")
    try:
        return maker(access, namespace, service, rollback)
    except ApiProblem as problem:
        return Plan(service.name, rollback.strategy, namespace, "-", "-", "-", problem=str(problem))


def _kubernetes(access: ClusterAccess, namespace: str, service: Service, rollback: Rollback) -> Plan:
    from kubernetes import client

    workload = service.kubernetes
    name = workload.deployment if workload is not None else None
    if name is None:
        return Plan(
            service.name,
            "kubernetes",
            namespace,
            "-",
            "-",
            "-",
            problem="`rollback.strategy: kubernetes` needs the service's `kubernetes.deployment`",
        )
    api = new_client(access)
    apps = client.AppsV1Api(api)
    deployment = api_call(
        "get", "deployments.apps", namespace, apps.read_namespaced_deployment, name, namespace, _t=API_TIMEOUT_S
    )
    uid = deployment.metadata.uid
    selector = ",".join(f"{k}={v}" for k, v in sorted((deployment.spec.selector.match_labels or {}).items()))
    listed = api_call(
        "list",
        "replicasets.apps",
        namespace,
        apps.list_namespaced_replica_set,
        namespace,
        label_selector=selector,
        _t=API_TIMEOUT_S,
    )
    owned = [rs for rs in listed.items if any(ref.uid == uid for ref in rs.metadata.owner_references or ())]
    revision = _revision(deployment.metadata)
    older = sorted((rs for rs in owned if _revision(rs.metadata) < revision), key=lambda rs: _revision(rs.metadata))
    if rollback.revision is not None:
        older = [rs for rs in older if _revision(rs.metadata) == rollback.revision]
    target = f"Deployment {namespace}/{name}"
    current = f"revision {revision} ({_images(deployment.spec.template)})"
    if not older:
        wanted = f"revision {rollback.revision}" if rollback.revision is not None else "an earlier revision"
        return Plan(
            service.name,
            "kubernetes",
            namespace,
            target,
            current,
            "-",
            problem=f"{target} has no ReplicaSet of {wanted} to return to",
        )
    previous = older[-1]
    template = api.sanitize_for_serialization(previous.spec.template)
    template.get("metadata", {}).get("labels", {}).pop("pod-template-hash", None)  # as `kubectl rollout undo`
    images = {c.name: c.image for c in previous.spec.template.spec.containers}
    restore = f"revision {_revision(previous.metadata)} ({_images(previous.spec.template)})"
    details = {
        "deployment": name,
        "template": template,
        "from_revision": revision,
        "images": images,
    }
    return Plan(service.name, "kubernetes", namespace, target, current, restore, details)


def _helm(access: ClusterAccess, namespace: str, service: Service, rollback: Rollback) -> Plan:
    release = rollback.release
    assert release is not None  # the section's validator demands it
    target = f"Helm release {namespace}/{release}"
    try:
        history = json.loads(run_helm(access, namespace, "history", release, "-o", "json", "--max", "50").stdout)
    except (HelmError, ValueError) as error:
        return Plan(service.name, "helm", namespace, target, "-", "-", problem=str(error))
    deployed = [entry for entry in history if entry.get("status") == "deployed"]
    if not deployed:
        return Plan(service.name, "helm", namespace, target, "-", "-", problem=f"{target} has no deployed revision")
    current = deployed[-1]
    earlier = [entry for entry in history if entry["revision"] < current["revision"]]
    if rollback.revision is not None:
        earlier = [entry for entry in history if entry["revision"] == rollback.revision]
    if not earlier:
        return Plan(
            service.name,
            "helm",
            namespace,
            target,
            f"revision {current['revision']}",
            "-",
            problem=f"{target} has no earlier revision to return to",
        )
    back = earlier[-1]
    details = {
        "release": release,
        "revision": back["revision"],
        "from_revision": current["revision"],
        "deployment": service.kubernetes.deployment if service.kubernetes else None,
    }
    describe = lambda entry: f"revision {entry['revision']} (app {entry.get('app_version', '?')}, {entry.get('chart')})"  # noqa: E731
    return Plan(service.name, "helm", namespace, target, describe(current), describe(back), details)


def _blue_green(access: ClusterAccess, namespace: str, service: Service, rollback: Rollback) -> Plan:
    from kubernetes import client

    name = rollback.service
    assert name is not None  # the section's validator demands it
    target = f"Service {namespace}/{name}"
    core = client.CoreV1Api(new_client(access))
    found = api_call("get", "services", namespace, core.read_namespaced_service, name, namespace, _t=API_TIMEOUT_S)
    selector = dict(found.spec.selector or {})
    keys = [key for key, value in selector.items() if value in rollback.colours]
    if len(keys) != 1:
        problem = f"{target}: no selector label with one of the colours {', '.join(rollback.colours)}"
        return Plan(service.name, "blue-green", namespace, target, str(selector), "-", problem=problem)
    key = keys[0]
    live = selector[key]
    other = rollback.colours[1] if live == rollback.colours[0] else rollback.colours[0]
    restored = {**selector, key: other}
    details = {
        "service": name,
        "key": key,
        "from": live,
        "to": other,
        "selector": ",".join(f"{k}={v}" for k, v in sorted(restored.items())),
    }
    return Plan(
        service.name, "blue-green", namespace, target, f"selector {key}={live}", f"selector {key}={other}", details
    )


class HelmError(Exception):
    pass


def helm_binary() -> str | None:
    return os.environ.get(HELM_ENV) or shutil.which("helm")


def run_helm(
    access: ClusterAccess, namespace: str, *args: str, timeout_s: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """The helm command line, against the same cluster as the checks (the one place the suite shells out)."""
    binary = helm_binary()
    if binary is None:
        raise HelmError(f"helm not found on PATH (or ${HELM_ENV}): install it to roll back Helm releases")
    command = [binary, *args, "--namespace", namespace]
    if access.kubeconfig:
        command += ["--kubeconfig", access.kubeconfig]
    if access.context:
        command += ["--kube-context", access.context]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise HelmError(f"helm {args[0]} did not finish within {timeout_s:g}s") from None
    except OSError as error:
        raise HelmError(f"cannot run {binary}: {error}") from None
    if done.returncode != 0:
        reason = (done.stderr.strip() or done.stdout.strip() or f"exit status {done.returncode}").splitlines()[-1]
        raise HelmError(f"helm {args[0]} {args[1] if len(args) > 1 else ''} failed: {reason[:300]}")
    return done


def _revision(meta: Any) -> int:
    return int((meta.annotations or {}).get(REVISION, 0) or 0)


def _images(template: Any) -> str:
    return ", ".join(container.image for container in template.spec.containers)
