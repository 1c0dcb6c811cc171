"""Judgement of a rollout: complete, its pods ready, few restarts, the expected image. Pure: evidence -> Finding.

A cluster that could not be asked (unreachable, 401, 403) is inconclusive; a Deployment that does not exist is a
failure (the deploy did not happen where it should have); a rollout still moving is inconclusive (`--wait-ready`
waits for it) and one past its progress deadline is a failure.
"""

from __future__ import annotations

from typing import Any

from deploycheck.evidence.base import Evidence
from deploycheck.findings import Finding, Outcome
from deploycheck.kinds.kubernetes.session import NotFound, PodState, Rollout

# Container states that will not fix themselves: named in the message with their pod and container.
BROKEN = frozenset(
    {
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
        "OOMKilled",
        "Error",
        "ContainerCannotRun",
    }
)
DEADLINE = "ProgressDeadlineExceeded"
MOVING = frozenset({"NewReplicaSetCreated", "FoundNewReplicaSet", "ReplicaSetUpdated"})  # Progressing reasons
LISTED = 3  # pods or events named in one message, then "and N more"


def complete(evidence: Evidence) -> Finding:
    """Observed generation current; updated = desired = available; nothing unavailable; not past its deadline."""
    rollout, unusable = _rollout(evidence)
    if unusable is not None:
        return unusable
    assert rollout is not None
    what = f"Deployment {rollout.namespace}/{rollout.name}"
    observed = {
        "revision": rollout.revision,
        "generation": rollout.generation,
        "observed_generation": rollout.observed_generation,
        "desired": rollout.desired,
        "updated": rollout.updated,
        "available": rollout.available,
        "unavailable": rollout.unavailable,
    }
    limit = "observed generation current; updated = available = desired; none unavailable"
    counts = f"updated {rollout.updated}/{rollout.desired}, available {rollout.available}/{rollout.desired}"
    progressing = rollout.conditions.get("Progressing")
    if progressing is not None and progressing.reason == DEADLINE:
        message = f"{what}: rollout stuck ({DEADLINE}: {progressing.message}); {counts}"
        return _finding(evidence, Outcome.FAILED, message, observed, limit)
    if rollout.paused:
        return _finding(evidence, Outcome.INCONCLUSIVE, f"{what}: rollout paused; {counts}", observed, limit)
    if is_moving(rollout):
        message = f"{what}: rollout still in progress ({counts}): wait for it with --wait-ready"
        return _finding(evidence, Outcome.INCONCLUSIVE, message, observed, limit)
    if rollout.available < rollout.desired or rollout.unavailable:
        message = f"{what}: rollout finished but {rollout.desired - rollout.available} replica(s) unavailable; {counts}"
        return _finding(evidence, Outcome.FAILED, message, observed, limit)
    message = f"{what}: revision {rollout.revision} rolled out, {counts}"
    return _finding(evidence, Outcome.PASSED, message, observed, limit)


def pods_ready(evidence: Evidence) -> Finding:
    """The new ReplicaSet's pods all Running and Ready; broken containers named with their pod."""
    rollout, unusable = _rollout_with_pods(evidence)
    if unusable is not None:
        return unusable
    assert rollout is not None
    pods = [pod for pod in rollout.pods if not pod.deleting]
    owner = f"ReplicaSet {rollout.namespace}/{rollout.new.name}" if rollout.new else f"{rollout.namespace}"
    observed = {pod.name: _pod_text(pod) for pod in pods}
    limit = "every pod Running and Ready"
    broken = [f"{pod.name}/{c.name}: {reason}" for pod in pods for c in pod.containers if (reason := _broken(c))]
    broken += [
        f"{pod.name}: {pod.phase}" + (f" ({pod.reason})" if pod.reason else "") for pod in pods if pod.phase == "Failed"
    ]
    if broken:
        message = f"{owner}: {_listed(broken)}"
        return _finding(evidence, Outcome.FAILED, message, observed, limit)
    unready = [
        f"{pod.name} ({pod.phase}{', not ready' if pod.phase == 'Running' else ''})"
        for pod in pods
        if not (pod.phase == "Running" and pod.ready)
    ]
    expected = rollout.new.replicas if rollout.new is not None else len(pods)
    if rollout.name is not None and is_moving(rollout) and (unready or len(pods) < expected):
        message = (
            f"{owner}: rollout still in progress, {len(pods) - len(unready)}/{expected} pods ready: "
            "wait for it with --wait-ready"
        )
        return _finding(evidence, Outcome.INCONCLUSIVE, message, observed, limit)
    if unready:
        message = f"{owner}: {len(unready)} of {len(pods)} pods not Running and Ready: {_listed(unready)}"
        return _finding(evidence, Outcome.FAILED, message, observed, limit)
    if not pods or len(pods) < expected:
        message = f"{owner}: {len(pods)} pods exist, {expected} wanted"
        return _finding(evidence, Outcome.FAILED, message, observed, limit)
    return _finding(evidence, Outcome.PASSED, f"{owner}: all {len(pods)} pods Running and Ready", observed, limit)


def restarts(evidence: Evidence, max_restarts: int) -> Finding:
    """Container restarts of the new pods, and Warning events since the rollout began, each within the limit."""
    rollout, unusable = _rollout_with_pods(evidence)
    if unusable is not None:
        return unusable
    assert rollout is not None
    restarted = {f"{pod.name}/{c.name}": c.restarts for pod in rollout.pods for c in pod.containers if c.restarts}
    total = sum(restarted.values())
    warnings = sum(event.count for event in rollout.warnings)
    observed = {
        "restarts": total,
        "warning_events": warnings,
        "restarted": restarted,
        "warnings": [f"{e.involved}: {e.reason}: {e.message}" for e in rollout.warnings[:10]],
    }
    limit = {"restarts": max_restarts, "warning_events": max_restarts}
    problems = []
    if total > max_restarts:
        named = [f"{name} {count}x" + _why(rollout, name) for name, count in restarted.items()]
        problems.append(f"{total} container restarts since the rollout (limit {max_restarts}): {_listed(named)}")
    if warnings > max_restarts:
        named = [f"{e.involved} {e.reason}: {e.message}" for e in rollout.warnings]
        problems.append(f"{warnings} Warning events since the rollout (limit {max_restarts}): {_listed(named)}")
    if problems:
        return _finding(evidence, Outcome.FAILED, "; ".join(problems), observed, limit)
    message = f"{total} restarts and {warnings} Warning events since the rollout (limit {max_restarts})"
    return _finding(evidence, Outcome.PASSED, message, observed, limit)


def image_matches(evidence: Evidence, expected: str) -> Finding:
    """The image tag of the deployed container(s) equals the expected version (a leading v is not significant)."""
    rollout, unusable = _rollout(evidence)
    if unusable is not None:
        return unusable
    assert rollout is not None
    images = _images(rollout)
    if not images:
        message = f"Deployment {rollout.namespace}/{rollout.name} has no container {rollout.container!r}"
        return _finding(evidence, Outcome.FAILED, message, images, expected)
    wrong = {name: image for name, image in images.items() if _norm(tag_of(image)) != _norm(expected)}
    if wrong:
        listed = ", ".join(f"{name}={image}" for name, image in wrong.items())
        message = f"Deployment {rollout.namespace}/{rollout.name} runs {listed}, expected tag {expected}"
        return _finding(evidence, Outcome.FAILED, message, images, expected)
    listed = ", ".join(f"{name}={image}" for name, image in images.items())
    return _finding(evidence, Outcome.PASSED, f"deployed {listed} as expected", images, expected)


def deployed_tag(rollout: Rollout) -> str | None:
    """The tag of the deployed image (the configured container's, else the first's)."""
    images = list(_images(rollout).values())
    return tag_of(images[0]) if images else None


def tag_of(image: str) -> str:
    """`registry:5000/app:v2@sha256:...` -> `v2`; no tag -> `latest`, as the runtime reads it."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else "latest"


def is_moving(rollout: Rollout) -> bool:
    """Still rolling out: the controller has not seen the change, or is still replacing pods."""
    progressing = rollout.conditions.get("Progressing")
    return (
        rollout.observed_generation < rollout.generation
        or rollout.updated < rollout.desired
        or (progressing is not None and progressing.reason in MOVING)
    )


def settled(evidence: Evidence) -> bool:
    """For --wait-ready: done (complete, pods ready) or stuck past its deadline; else worth asking again."""
    if complete(evidence).outcome is Outcome.FAILED and isinstance(evidence.value, Rollout):
        return True  # past the deadline: waiting longer changes nothing
    return complete(evidence).outcome is Outcome.PASSED and pods_ready(evidence).outcome is Outcome.PASSED


def _rollout(evidence: Evidence) -> tuple[Rollout | None, Finding | None]:
    """The rollout, or the finding that says why there is none to judge."""
    if isinstance(evidence.value, NotFound):
        found = evidence.value
        message = (
            f"{found.kind} {found.namespace}/{found.name} not found: check `kubernetes.deployment` and the "
            "namespace (--namespace) of the service, and that the deploy happened"
        )
        return None, _finding(evidence, Outcome.FAILED, message)
    if not isinstance(evidence.value, Rollout):
        return None, _finding(evidence, Outcome.INCONCLUSIVE, evidence.error or "no rollout evidence")
    return evidence.value, None


def _rollout_with_pods(evidence: Evidence) -> tuple[Rollout | None, Finding | None]:
    """The rollout with pods to judge, or the finding that says why there is none (no rollout, or no pods)."""
    rollout, unusable = _rollout(evidence)
    if rollout is None or unusable is not None:
        return None, unusable
    nothing = _no_pods(evidence, rollout)
    return (None, nothing) if nothing is not None else (rollout, None)


def _no_pods(evidence: Evidence, rollout: Rollout) -> Finding | None:
    """Nothing to judge, said as such: a label selector that matches no pod, or a Deployment scaled to zero. (A
    Deployment that wants pods and has none is a failure of pods_ready, below; restarts have nothing to count.)"""
    if rollout.pods:
        return None
    if rollout.name is None:
        selector = evidence.source.get("selector")
        message = (
            f"the selector {selector} matches no pod in namespace {rollout.namespace}: check `kubernetes.selector` "
            "and the namespace (--namespace)"
        )
        return _finding(evidence, Outcome.INCONCLUSIVE, message, {}, "pods of the selector")
    if rollout.desired == 0:
        message = f"Deployment {rollout.namespace}/{rollout.name} is scaled to zero: no pods to judge"
        return _finding(evidence, Outcome.INCONCLUSIVE, message, {}, "pods of the Deployment")
    return None


def _images(rollout: Rollout) -> dict[str, str]:
    if rollout.container is not None:
        return {name: image for name, image in rollout.images.items() if name == rollout.container}
    return dict(rollout.images)


def _broken(container: Any) -> str | None:
    for reason in (container.waiting, container.terminated):
        if reason in BROKEN:
            detail = f" ({container.message})" if container.message else ""
            last = f", last exit {container.last_terminated}" if container.last_terminated else ""
            return f"{reason}{last}{detail}"
    return None


def _why(rollout: Rollout, name: str) -> str:
    pod_name, container_name = name.split("/", 1)
    for pod in rollout.pods:
        for container in pod.containers:
            if pod.name == pod_name and container.name == container_name and container.last_terminated:
                return f" (last: {container.last_terminated})"
    return ""


def _pod_text(pod: PodState) -> str:
    states = [f"{c.name}: {c.waiting or c.terminated or ('ready' if c.ready else 'not ready')}" for c in pod.containers]
    return f"{pod.phase}, {'Ready' if pod.ready else 'not Ready'}; " + ", ".join(states)


def _listed(items: list[str]) -> str:
    more = f" and {len(items) - LISTED} more" if len(items) > LISTED else ""
    return "; ".join(items[:LISTED]) + more


def _norm(version: str) -> str:
    version = version.strip()
    return version[1:] if version[:1] in ("v", "V") and version[1:2].isdigit() else version


def _finding(evidence: Evidence, outcome: Outcome, message: str, observed: Any = None, limit: Any = None) -> Finding:
    source = {**evidence.source, "attempts": evidence.attempts}
    return Finding(outcome, message, observed=observed, limit=limit, source=source, duration_ms=evidence.elapsed_ms)
