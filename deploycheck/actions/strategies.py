"""Carrying out a planned rollback, one function per strategy. Each raises `ActionFailed` with the reason."""

from __future__ import annotations

from deploycheck.actions.plan import API_TIMEOUT_S, HelmError, Plan, run_helm
from deploycheck.config.sections import Rollback
from deploycheck.kinds.kubernetes.session import ApiProblem, ClusterAccess, api_call, new_client


class ActionFailed(Exception):
    pass


def act(access: ClusterAccess, plan: Plan, rollback: Rollback) -> str:
    """Do what the plan says; what was done, in one line."""
    try:
        if plan.strategy == "kubernetes":
            return _undo(access, plan)
        if plan.strategy == "helm":
            return _helm_rollback(access, plan, rollback)
        if plan.strategy == "blue-green":
            return _switch(access, plan)
    except (ApiProblem, HelmError) as error:
        raise ActionFailed(str(error)) from None
    raise ActionFailed(f"no strategy {plan.strategy!r}")


def _undo(access: ClusterAccess, plan: Plan) -> str:
    """As `kubectl rollout undo`: the previous ReplicaSet's pod template copied back into the Deployment."""
    from kubernetes import client

    apps = client.AppsV1Api(new_client(access))
    name = plan.details["deployment"]
    patch = [{"op": "replace", "path": "/spec/template", "value": plan.details["template"]}]
    api_call(
        "patch",
        "deployments.apps",
        plan.namespace,
        apps.patch_namespaced_deployment,
        name,
        plan.namespace,
        patch,
        _t=API_TIMEOUT_S,
    )
    return f"pod template of {plan.restore} copied back into {plan.target}"


def _helm_rollback(access: ClusterAccess, plan: Plan, rollback: Rollback) -> str:
    release, revision = plan.details["release"], str(plan.details["revision"])
    seconds = f"{max(int(rollback.timeout), 1)}s"
    run_helm(
        access,
        plan.namespace,
        "rollback",
        release,
        revision,
        "--wait",
        "--timeout",
        seconds,
        timeout_s=rollback.timeout + 30,
    )
    return f"helm rollback {release} {revision}"


def _switch(access: ClusterAccess, plan: Plan) -> str:
    from kubernetes import client

    core = client.CoreV1Api(new_client(access))
    key, colour = plan.details["key"], plan.details["to"]
    body = {"spec": {"selector": {key: colour}}}
    api_call(
        "patch",
        "services",
        plan.namespace,
        core.patch_namespaced_service,
        plan.details["service"],
        plan.namespace,
        body,
        _t=API_TIMEOUT_S,
    )
    return f"{plan.target} selector switched to {key}={colour}"
