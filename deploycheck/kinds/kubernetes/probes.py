"""The Kubernetes probe of every service with a `kubernetes` section: its rollout, gathered with the rest.

It plugs the `kubernetes` kind into the evidence layer and registers the `rollout` probe. The cluster comes from
the environment's `kubernetes` section (kubeconfig, context, namespace, or the pod's own service account),
overridden by `--context` and `--namespace`. Two facts read from the cluster before the checks run also live
here: the deploy time (the new ReplicaSet's creation, the default of `--deployed-at`) and the deployed image tag
of each service (the expected version when none is given).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from deploycheck.config.loader import Environment, Service
from deploycheck.evidence.base import Evidence
from deploycheck.evidence.probe import GatherSettings, Probe
from deploycheck.evidence.registry import register, register_session
from deploycheck.kinds.kubernetes import rules as kubernetes_rules
from deploycheck.kinds.kubernetes.config import KubernetesCluster
from deploycheck.kinds.kubernetes.session import ClusterAccess, KubernetesSession, Rollout, RolloutRequest

DEFAULT_NAMESPACE = "default"


def access_of(environment: Environment) -> ClusterAccess:
    cluster = environment.kubernetes
    if cluster is None:
        return ClusterAccess()
    kubeconfig = str(cluster.kubeconfig) if cluster.kubeconfig is not None else None
    return ClusterAccess(kubeconfig, cluster.context, cluster.in_cluster)


def namespace_of(environment: Environment, service: Service) -> str:
    workload = service.kubernetes
    cluster = environment.kubernetes
    own = workload.namespace if workload is not None else None
    return own or (cluster.namespace if cluster is not None else None) or DEFAULT_NAMESPACE


def plan_rollout(environment: Environment, service: Service | None, settings: GatherSettings) -> RolloutRequest | None:
    if service is None or service.kubernetes is None:
        return None
    workload = service.kubernetes
    return RolloutRequest(
        access_of(environment),
        namespace_of(environment, service),
        workload.deployment,
        workload.selector,
        workload.container,
        timeout_s=service.timeout_s,
    )


def with_overrides(environment: Environment, context: str | None, namespace: str | None) -> Environment:
    """The environment as `--context` and `--namespace` change it (the namespace of every service)."""
    if context is None and namespace is None:
        return environment
    cluster = environment.kubernetes or KubernetesCluster()
    changes: dict[str, Any] = {}
    if context is not None:
        changes["context"] = context
    if namespace is not None:
        changes["namespace"] = namespace
    services = environment.services
    if namespace is not None:
        services = {
            name: replace(service, kubernetes=service.kubernetes.model_copy(update={"namespace": None}))
            if service.kubernetes is not None
            else service
            for name, service in services.items()
        }
    return replace(environment, kubernetes=cluster.model_copy(update=changes), services=services)


def _settled(evidence: Evidence, service: Service | None) -> bool:
    """--wait-ready: the rollout finished and its pods are ready (or it can no longer finish)."""
    return kubernetes_rules.settled(evidence)


# ---------------------------------------------------------------------------------------------------------------
# Facts read before the checks: the deploy time and the deployed tags


def cluster_defaults(environment: Environment) -> dict[str, Any]:
    """{"deployed_at", "deployed_at_origin", "tags": {service: tag}} from the services' rollouts (plain values,
    handed to xdist workers as they are). Nothing when no service has a usable `kubernetes` section; a cluster
    that cannot be asked gives nothing either: the rollout checks report why."""
    planned = {
        name: plan_rollout(environment, service, GatherSettings())
        for name, service in environment.services.items()
        if service.kubernetes is not None and getattr(service.kubernetes, "resolved", True)
    }
    cluster = environment.kubernetes
    requests = {name: request for name, request in planned.items() if request is not None and request.deployment}
    if not requests or (cluster is not None and not cluster.resolved):
        return {"deployed_at": None, "deployed_at_origin": None, "tags": {}}
    evidence = asyncio.run(_fetch_all(requests))
    rollouts = {name: found.value for name, found in evidence.items() if isinstance(found.value, Rollout)}
    tags = {name: tag for name, rollout in rollouts.items() if (tag := kubernetes_rules.deployed_tag(rollout))}
    times = {name: rollout.deployed_at for name, rollout in rollouts.items() if rollout.deployed_at}
    if not times:
        return {"deployed_at": None, "deployed_at_origin": None, "tags": tags}
    # Several services: the newest rollout, so every service's current window holds only its new version.
    name = max(times, key=lambda key: times[key] or 0.0)
    rollout = rollouts[name]
    assert rollout.new is not None
    moment = datetime.fromtimestamp(rollout.new.created_at, UTC).isoformat(timespec="seconds")
    origin = f"the rollout of {name} (ReplicaSet {rollout.namespace}/{rollout.new.name} created {moment})"
    return {"deployed_at": times[name], "deployed_at_origin": origin, "tags": tags}


async def _fetch_all(requests: dict[str, RolloutRequest]) -> dict[str, Evidence]:
    async with KubernetesSession() as session:
        bound = max(request.timeout_s for request in requests.values()) * 3 + 2
        tasks = {name: asyncio.ensure_future(session.fetch(request)) for name, request in requests.items()}
        await asyncio.wait(tasks.values(), timeout=bound)
        for task in tasks.values():
            task.cancel()
        return {name: task.result() for name, task in tasks.items() if task.done() and not task.cancelled()}


register_session("kubernetes", KubernetesSession)
register(Probe("rollout", "kubernetes", "kubernetes", plan_rollout, good=_settled, also_judges=("resources",)))
