"""The `kubernetes` probe kind: a workload's rollout as the API server sees it, through the official client.

One request per service: the Deployment, then its ReplicaSets, its pods and the namespace's Warning events, each
one list call with a label (or field) selector, never one request per pod. The client blocks, so every call runs
in a thread of the session's pool with a per-call timeout; the client is imported only when a probe of this kind
is gathered. Nothing here judges: API errors become the evidence's `error`, said so that a person knows which
call failed and what to check.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from deploycheck.evidence.base import Evidence
from deploycheck.text import cut

REVISION = "deployment.kubernetes.io/revision"
POOL_THREADS = 16  # blocking calls in flight at once (and the client's connection pool)


# ---------------------------------------------------------------------------------------------------------------
# What is asked


@dataclass(frozen=True)
class ClusterAccess:
    """How to reach the API server: a kubeconfig file and context, or the pod's service account."""

    kubeconfig: str | None = None
    context: str | None = None
    in_cluster: bool = False

    def describe(self) -> dict[str, Any]:
        if self.in_cluster:
            return {"config": "in-cluster service account"}
        return {"kubeconfig": self.kubeconfig or "$KUBECONFIG or ~/.kube/config", "context": self.context or "current"}


@dataclass(frozen=True)
class RolloutRequest:
    access: ClusterAccess
    namespace: str
    deployment: str | None  # None: only the pods of `selector` (no rollout to follow)
    selector: str | None = None
    container: str | None = None  # the container whose image is the version (default: all)
    timeout_s: float = 10.0  # per call; the whole request is bounded by a few of these

    def describe(self) -> dict[str, Any]:
        what = {"deployment": self.deployment} if self.deployment else {"selector": self.selector}
        return {"kind": "kubernetes", "namespace": self.namespace, **what, **self.access.describe()}


# ---------------------------------------------------------------------------------------------------------------
# What comes back: plain values (they cross process boundaries under xdist)


@dataclass(frozen=True)
class ContainerState:
    name: str
    image: str
    ready: bool
    restarts: int
    waiting: str | None = None  # reason: CrashLoopBackOff, ImagePullBackOff, ...
    terminated: str | None = None  # reason: OOMKilled, Error, ...
    last_terminated: str | None = None  # why it last stopped (a restarted container)
    message: str | None = None


@dataclass(frozen=True)
class PodState:
    name: str
    phase: str
    ready: bool
    template_hash: str | None
    containers: tuple[ContainerState, ...] = ()
    reason: str | None = None  # the pod's own status reason (Evicted, ...)
    deleting: bool = False


@dataclass(frozen=True)
class ReplicaSetState:
    name: str
    revision: int
    created_at: float
    template_hash: str | None
    images: Mapping[str, str]  # container -> image of its pod template
    replicas: int = 0
    ready: int = 0


@dataclass(frozen=True)
class WarningEvent:
    involved: str  # Kind/name
    reason: str
    message: str
    count: int
    last_seen: float


@dataclass(frozen=True)
class Condition:
    status: str
    reason: str | None
    message: str | None


@dataclass(frozen=True)
class Rollout:
    """A Deployment's rollout: its spec and status, its newest and previous ReplicaSets, the pods, the warnings."""

    namespace: str
    name: str | None  # None: pods by selector only
    container: str | None
    generation: int = 0
    observed_generation: int = 0
    desired: int = 0
    updated: int = 0
    ready: int = 0
    available: int = 0
    unavailable: int = 0
    revision: int = 0
    paused: bool = False
    images: Mapping[str, str] = field(default_factory=dict)  # container -> image of the Deployment's template
    conditions: Mapping[str, Condition] = field(default_factory=dict)
    new: ReplicaSetState | None = None  # the ReplicaSet of the current revision
    previous: ReplicaSetState | None = None  # the one before: what a rollback returns to
    pods: tuple[PodState, ...] = ()  # of the new ReplicaSet (all pods of the selector without a Deployment)
    warnings: tuple[WarningEvent, ...] = ()  # since the new ReplicaSet was created

    @property
    def deployed_at(self) -> float | None:
        return self.new.created_at if self.new is not None else None


@dataclass(frozen=True)
class NotFound:
    """The workload does not exist: a fact about the deployment, not a failure to ask."""

    kind: str
    name: str
    namespace: str


# ---------------------------------------------------------------------------------------------------------------
# The session


class ApiProblem(Exception):
    """An API call that failed, said for a person: which call, what came back, what to check."""

    def __init__(self, message: str, not_found: bool = False) -> None:
        super().__init__(message)
        self.not_found = not_found


class KubernetesSession:
    """One client per cluster access (kubeconfig + context) for the whole gathering, and a pool of threads."""

    def __init__(self) -> None:
        self._clients: dict[ClusterAccess, Any] = {}
        self._pool = ThreadPoolExecutor(POOL_THREADS, thread_name_prefix="deploycheck-k8s")

    async def __aenter__(self) -> KubernetesSession:
        # The client is imported here, before any request's deadline runs: importing it takes a second or more on a
        # busy machine, which the first call would otherwise spend from its own timeout (a fetch that meets an
        # ImportError says so).
        with contextlib.suppress(ImportError):
            import kubernetes.client
            import kubernetes.config  # noqa: F401
        return self

    async def __aexit__(self, *exc: object) -> None:
        for api_client in self._clients.values():
            with contextlib.suppress(Exception):
                api_client.close()
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def fetch(self, request: RolloutRequest) -> Evidence:
        started = time.monotonic()
        source = request.describe()
        if request.deployment is None and request.selector is None:
            message = "only Deployments (or pods by `selector`) are checked: give the pods' `kubernetes.selector`"
            return Evidence(source, error=message)
        try:
            api = await self._call(request, lambda: self.client(request.access))
            rollout = await self._rollout(api, request)
        except ImportError as error:  # a dependency of the project, but say so rather than break the run
            return Evidence(source, error=f"the `kubernetes` client is not installed ({error}): pip install kubernetes")
        except ApiProblem as problem:
            value = None
            if problem.not_found:
                value = NotFound("Deployment", request.deployment or "", request.namespace)
            return Evidence(source, value=value, error=str(problem), elapsed_ms=_ms(started))
        return Evidence(source, rollout, elapsed_ms=_ms(started))

    def client(self, access: ClusterAccess) -> Any:
        """The API client of this access (made once; loading a kubeconfig reads files)."""
        if access not in self._clients:
            self._clients[access] = new_client(access)
        return self._clients[access]

    async def _call(self, request: RolloutRequest, call: Any) -> Any:
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(loop.run_in_executor(self._pool, call), request.timeout_s + 1)
        except TimeoutError:
            raise ApiProblem(
                f"the Kubernetes API did not answer within {request.timeout_s:g}s: check the cluster is up"
            ) from None

    async def _rollout(self, api: Any, request: RolloutRequest) -> Rollout:
        from kubernetes import client

        apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
        ns, timeout = request.namespace, request.timeout_s

        def call(verb: str, resource: str, method: Any, *args: Any, **kwargs: Any) -> Any:
            return self._call(request, lambda: api_call(verb, resource, ns, method, *args, _t=timeout, **kwargs))

        if request.deployment is None:
            pods = await call("list", "pods", core.list_namespaced_pod, ns, label_selector=request.selector)
            return Rollout(ns, None, request.container, pods=tuple(_pod(pod) for pod in pods.items))
        deployment = await call("get", "deployments.apps", apps.read_namespaced_deployment, request.deployment, ns)
        selector = _selector(deployment.spec.selector)
        replica_sets, pods, events = await asyncio.gather(
            call("list", "replicasets.apps", apps.list_namespaced_replica_set, ns, label_selector=selector),
            call("list", "pods", core.list_namespaced_pod, ns, label_selector=selector),
            call("list", "events", core.list_namespaced_event, ns, field_selector="type=Warning"),
        )
        return rollout_of(deployment, replica_sets.items, pods.items, events.items, request.container)


def new_client(access: ClusterAccess) -> Any:
    """An API client for this access, without retries (each call has its deadline; the check says what failed)."""
    from kubernetes import client, config

    configuration = client.Configuration()
    try:
        if access.in_cluster:
            config.load_incluster_config(client_configuration=configuration)
        else:
            config.load_kube_config(
                config_file=access.kubeconfig,
                context=access.context,
                client_configuration=configuration,
                persist_config=False,
            )
    except (config.ConfigException, OSError, ValueError, TypeError) as error:
        where = "the pod's service account" if access.in_cluster else _where(access)
        raise ApiProblem(f"cannot load the cluster configuration ({where}): {_first_line(error)}") from None
    configuration.retries = 0
    configuration.connection_pool_maxsize = POOL_THREADS
    return client.ApiClient(configuration)


def api_call(verb: str, resource: str, namespace: str, method: Any, *args: Any, _t: float, **kwargs: Any) -> Any:
    """One blocking API call; its failure said as which call failed and what to check."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    try:
        return method(*args, _request_timeout=_t, **kwargs)
    except ApiException as error:
        raise ApiProblem(refusal(error.status, verb, resource, namespace, error.reason), error.status == 404) from None
    except HTTPError as error:
        raise ApiProblem(
            f"the Kubernetes API is unreachable: {_first_line(error)}: check the cluster is up and "
            "its address in the kubeconfig"
        ) from None


def refusal(status: int, verb: str, resource: str, namespace: str, reason: str | None) -> str:
    """What a refused call means, and what to check."""
    call = f"{verb} {resource} in namespace {namespace}"
    if status == 401:
        return f"the Kubernetes API refused the credentials (401 Unauthorized) to {call}: check the kubeconfig user"
    if status == 403:
        return f"forbidden (403) to {call}: grant the suite's account `{verb}` on {resource} (RBAC)"
    if status == 404:
        return f"not found (404): {call}: check the name and the namespace (--namespace)"
    return f"the Kubernetes API answered {status} {reason or ''} to {call}".rstrip()


# ---------------------------------------------------------------------------------------------------------------
# API objects -> plain values


def rollout_of(
    deployment: Any, replica_sets: list[Any], pods: list[Any], events: list[Any], container: str | None
) -> Rollout:
    meta, spec, status = deployment.metadata, deployment.spec, deployment.status
    uid = meta.uid
    owned = [rs for rs in replica_sets if any(ref.uid == uid for ref in rs.metadata.owner_references or ())]
    states = sorted((_replica_set(rs) for rs in owned), key=lambda rs: rs.revision)
    revision = int((meta.annotations or {}).get(REVISION, 0) or 0)
    new = next((rs for rs in states if rs.revision == revision), None)
    previous = next((rs for rs in reversed(states) if rs.revision < revision), None)
    pod_states = tuple(_pod(pod) for pod in pods)
    if new is not None:
        pod_states = tuple(pod for pod in pod_states if pod.template_hash == new.template_hash)
    involved = {("Deployment", meta.name)} | {("ReplicaSet", rs.name) for rs in states}
    involved |= {("Pod", pod.name) for pod in pod_states}
    since = new.created_at if new is not None else 0.0
    warnings = tuple(
        warning
        for warning in (_event(event) for event in events)
        if tuple(warning.involved.split("/", 1)) in involved and warning.last_seen >= since
    )
    return Rollout(
        namespace=meta.namespace,
        name=meta.name,
        container=container,
        generation=meta.generation or 0,
        observed_generation=status.observed_generation or 0,
        desired=spec.replicas if spec.replicas is not None else 1,
        updated=status.updated_replicas or 0,
        ready=status.ready_replicas or 0,
        available=status.available_replicas or 0,
        unavailable=status.unavailable_replicas or 0,
        revision=revision,
        paused=bool(spec.paused),
        images={c.name: c.image for c in spec.template.spec.containers},
        conditions={c.type: Condition(c.status, c.reason, c.message) for c in status.conditions or ()},
        new=new,
        previous=previous,
        pods=pod_states,
        warnings=warnings,
    )


def _replica_set(rs: Any) -> ReplicaSetState:
    meta = rs.metadata
    return ReplicaSetState(
        name=meta.name,
        revision=int((meta.annotations or {}).get(REVISION, 0) or 0),
        created_at=_seconds(meta.creation_timestamp),
        template_hash=(meta.labels or {}).get("pod-template-hash"),
        images={c.name: c.image for c in rs.spec.template.spec.containers},
        replicas=rs.spec.replicas or 0,
        ready=rs.status.ready_replicas or 0,
    )


def _pod(pod: Any) -> PodState:
    status = pod.status
    conditions = {c.type: c.status for c in status.conditions or ()}
    containers = tuple(
        _container(c) for c in (status.init_container_statuses or []) + (status.container_statuses or [])
    )
    if not containers:  # not started yet: the spec's containers, none ready
        containers = tuple(ContainerState(c.name, c.image, False, 0) for c in pod.spec.containers)
    return PodState(
        name=pod.metadata.name,
        phase=status.phase or "Unknown",
        ready=conditions.get("Ready") == "True",
        template_hash=(pod.metadata.labels or {}).get("pod-template-hash"),
        containers=containers,
        reason=status.reason,
        deleting=pod.metadata.deletion_timestamp is not None,
    )


def _container(status: Any) -> ContainerState:
    state, last = status.state, status.last_state
    waiting = state.waiting if state is not None else None
    terminated = state.terminated if state is not None else None
    last_terminated = last.terminated if last is not None else None
    message = (waiting.message if waiting is not None else None) or (terminated.message if terminated else None)
    return ContainerState(
        name=status.name,
        image=status.image,
        ready=bool(status.ready),
        restarts=status.restart_count or 0,
        waiting=waiting.reason if waiting is not None else None,
        terminated=terminated.reason if terminated is not None else None,
        last_terminated=last_terminated.reason if last_terminated is not None else None,
        message=message,
    )


def _event(event: Any) -> WarningEvent:
    seen = event.last_timestamp or event.event_time or event.first_timestamp or event.metadata.creation_timestamp
    involved = event.involved_object
    return WarningEvent(
        involved=f"{involved.kind}/{involved.name}",
        reason=event.reason or "",
        message=_first_line(event.message or ""),
        count=event.count or 1,
        last_seen=_seconds(seen),
    )


def _selector(selector: Any) -> str:
    """A LabelSelector as the text a list call takes."""
    parts = [f"{key}={value}" for key, value in sorted((selector.match_labels or {}).items())]
    for expression in selector.match_expressions or ():
        values = ",".join(expression.values or ())
        operator = expression.operator
        if operator == "In":
            parts.append(f"{expression.key} in ({values})")
        elif operator == "NotIn":
            parts.append(f"{expression.key} notin ({values})")
        elif operator == "Exists":
            parts.append(expression.key)
        else:
            parts.append(f"!{expression.key}")
    return ",".join(parts)


def _seconds(moment: datetime | None) -> float:
    return moment.timestamp() if moment is not None else 0.0


def _where(access: ClusterAccess) -> str:
    return f"kubeconfig {access.kubeconfig or '$KUBECONFIG or ~/.kube/config'}, context {access.context or 'current'}"


def _first_line(error: object) -> str:
    text = str(error).strip()
    return cut(text.splitlines()[0], 300) if text else type(error).__name__  # redacted before it is cut


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)
