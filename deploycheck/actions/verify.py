"""After a rollback: wait for its rollout, then judge it with the checks' own rules (complete, pods ready, the
previous image deployed, health and readiness passing again), within the section's `timeout`."""

from __future__ import annotations

import asyncio
import time

from deploycheck.actions.plan import Plan
from deploycheck.config.loader import Environment, Service
from deploycheck.evidence.base import Evidence
from deploycheck.evidence.probe import GatherSettings
from deploycheck.evidence.store import EvidenceStore
from deploycheck.findings import Finding, Outcome
from deploycheck.kinds.http import rules as judge
from deploycheck.kinds.kubernetes import rules as kubernetes_rules
from deploycheck.kinds.kubernetes.probes import access_of, plan_rollout
from deploycheck.kinds.kubernetes.session import KubernetesSession, Rollout, RolloutRequest

POLL_S = 1.0
# After a selector switch, endpoints and proxies follow within a moment: judge the live URL once they have.
SETTLE_S = 2.0


def verify(environment: Environment, service: Service, plan: Plan, deadline: float) -> tuple[bool, list[str]]:
    """(recovered, what was checked and found, one line each)."""
    lines: list[str] = []
    ok = True
    request = _rollout_request(environment, service, plan)
    if request is not None:
        evidence = asyncio.run(_until_settled(request, deadline))
        findings = [kubernetes_rules.complete(evidence), kubernetes_rules.pods_ready(evidence)]
        if plan.strategy == "kubernetes":
            findings.append(_image(evidence, plan))
        if request.deployment is None:
            findings = findings[1:]  # pods by selector: no rollout of their own
        for finding in findings:
            ok = ok and finding.outcome is Outcome.PASSED
            lines.append(f"{finding.outcome.value}: {finding.message}")
    probes = [name for name in ("health", "ready") if getattr(service, name) is not None]
    if probes and plan.strategy == "blue-green":
        time.sleep(min(SETTLE_S, max(deadline - time.time(), 0.0)))
    if probes:
        wait = max(deadline - time.time(), 0.0)
        store = EvidenceStore(environment, GatherSettings(wait_ready_s=wait))
        store.prefetch([(service.name, name) for name in probes])
        for name in probes:
            finding = judge.endpoint(store.get(service.name, name), getattr(service, name))
            ok = ok and finding.outcome is Outcome.PASSED
            lines.append(f"{name} {finding.outcome.value}: {finding.message}")
    return ok, lines


def _rollout_request(environment: Environment, service: Service, plan: Plan) -> RolloutRequest | None:
    if plan.strategy == "blue-green":
        base = plan_rollout(environment, service, GatherSettings())
        timeout = base.timeout_s if base is not None else service.timeout_s
        return RolloutRequest(access_of(environment), plan.namespace, None, plan.details["selector"], timeout_s=timeout)
    return plan_rollout(environment, service, GatherSettings())


async def _until_settled(request: RolloutRequest, deadline: float) -> Evidence:
    async with KubernetesSession() as session:
        while True:
            evidence = await session.fetch(request)
            if _settled(request, evidence) or time.time() + POLL_S > deadline:
                return evidence
            await asyncio.sleep(POLL_S)


def _settled(request: RolloutRequest, evidence: Evidence) -> bool:
    if not isinstance(evidence.value, Rollout):
        return False
    if request.deployment is None:  # pods by selector (blue-green): ready is all there is
        return kubernetes_rules.pods_ready(evidence).outcome is Outcome.PASSED
    return kubernetes_rules.settled(evidence)


def _image(evidence: Evidence, plan: Plan) -> Finding:
    """The images of the revision returned to are the ones deployed again."""
    rollout = evidence.value
    wanted = plan.details["images"]
    if not isinstance(rollout, Rollout):
        return kubernetes_rules.complete(evidence)
    deployed = dict(rollout.images)
    if deployed != wanted:
        message = f"deployed {deployed}, expected the previous images {wanted}"
        return Finding(Outcome.FAILED, message, observed=deployed, limit=wanted)
    return Finding(Outcome.PASSED, f"previous image deployed again: {', '.join(deployed.values())}")
