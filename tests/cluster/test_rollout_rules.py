"""The rollout rules on their own (no cluster): each state of a rollout judged as the checks will."""

from __future__ import annotations

from dataclasses import replace

import pytest

from deploycheck.evidence.base import Evidence
from deploycheck.findings import Outcome
from deploycheck.kinds.kubernetes import rules
from deploycheck.kinds.kubernetes.session import (
    Condition,
    ContainerState,
    NotFound,
    PodState,
    ReplicaSetState,
    Rollout,
    WarningEvent,
)

NEW = ReplicaSetState("api-7f9", 2, 1000.0, "7f9", {"app": "reg/api:v2"}, replicas=2, ready=2)
DONE = Condition("True", "NewReplicaSetAvailable", "ReplicaSet api-7f9 has successfully progressed.")


def pod(name: str, ready: bool = True, phase: str = "Running", restarts: int = 0, **container: str) -> PodState:
    state = ContainerState("app", "reg/api:v2", ready, restarts, **container)
    return PodState(name, phase, ready, "7f9", (state,))


ROLLED_OUT = Rollout(
    "prod", "api", None, generation=2, observed_generation=2, desired=2, updated=2, ready=2, available=2,
    revision=2, images={"app": "reg/api:v2"}, conditions={"Progressing": DONE}, new=NEW,
    pods=(pod("api-7f9-a"), pod("api-7f9-b")),
)  # fmt: skip


def judged(rollout: object, rule=rules.complete, *args: object) -> tuple[Outcome, str]:
    finding = rule(Evidence({"kind": "kubernetes"}, rollout), *args)
    return finding.outcome, finding.message


def test_a_finished_rollout_passes_every_rule():
    assert judged(ROLLED_OUT)[0] is Outcome.PASSED
    assert judged(ROLLED_OUT, rules.pods_ready)[0] is Outcome.PASSED
    assert judged(ROLLED_OUT, rules.restarts, 0)[0] is Outcome.PASSED
    assert judged(ROLLED_OUT, rules.image_matches, "v3")[0] is Outcome.FAILED
    assert judged(ROLLED_OUT, rules.image_matches, "2")[0] is Outcome.PASSED  # a leading v is not significant


def test_a_moving_rollout_is_inconclusive_and_one_past_its_deadline_fails():
    moving = replace(ROLLED_OUT, updated=1, conditions={"Progressing": Condition("True", "ReplicaSetUpdated", "")})
    assert judged(moving) == (Outcome.INCONCLUSIVE, "Deployment prod/api: rollout still in progress (updated 1/2, "
                                                    "available 2/2): wait for it with --wait-ready")  # fmt: skip
    stuck = replace(moving, conditions={"Progressing": Condition("False", rules.DEADLINE, "took too long")})
    outcome, message = judged(stuck)
    assert outcome is Outcome.FAILED and "ProgressDeadlineExceeded: took too long" in message
    assert rules.settled(Evidence({}, stuck)) and not rules.settled(Evidence({}, moving))


def test_broken_containers_are_named_with_their_pod():
    crashing = replace(ROLLED_OUT, pods=(pod("api-7f9-a"), pod("api-7f9-b", False, waiting="ImagePullBackOff")))
    assert judged(crashing, rules.pods_ready) == (Outcome.FAILED, "ReplicaSet prod/api-7f9: api-7f9-b/app: "
                                                                  "ImagePullBackOff")  # fmt: skip
    unready = replace(ROLLED_OUT, pods=(pod("api-7f9-a"), pod("api-7f9-b", False)))
    outcome, message = judged(unready, rules.pods_ready)
    assert outcome is Outcome.FAILED and "api-7f9-b (Running, not ready)" in message


def test_restarts_and_warnings_count_against_the_limit():
    restarted = replace(ROLLED_OUT, pods=(pod("api-7f9-a", restarts=2, last_terminated="OOMKilled"),))
    outcome, message = judged(restarted, rules.restarts, 1)
    assert outcome is Outcome.FAILED and "api-7f9-a/app 2x (last: OOMKilled)" in message
    assert judged(restarted, rules.restarts, 2)[0] is Outcome.PASSED
    warned = replace(ROLLED_OUT, warnings=(WarningEvent("Pod/api-7f9-a", "BackOff", "restarting", 3, 1001.0),))
    assert judged(warned, rules.restarts, 2) == (
        Outcome.FAILED, "3 Warning events since the rollout (limit 2): Pod/api-7f9-a BackOff: restarting")  # fmt: skip


def test_a_missing_deployment_fails_and_an_unanswered_question_is_inconclusive():
    missing = Evidence({}, NotFound("Deployment", "api", "prod"), error="not found (404)")
    assert rules.complete(missing).outcome is Outcome.FAILED
    assert "Deployment prod/api not found" in rules.complete(missing).message
    refused = Evidence({}, error="forbidden (403) to get deployments.apps in namespace prod: grant ...")
    assert rules.pods_ready(refused).outcome is Outcome.INCONCLUSIVE


@pytest.mark.parametrize(
    ("image", "tag"),
    [("reg/api:v2", "v2"), ("reg:5000/api:v2@sha256:abc", "v2"), ("reg:5000/api", "latest"), ("api", "latest")],
)
def test_the_tag_of_an_image(image, tag):
    assert rules.tag_of(image) == tag


def test_a_selector_that_matches_no_pod_is_inconclusive_naming_it_and_the_namespace():
    nothing = Rollout("prod", None, None)
    evidence = Evidence({"kind": "kubernetes", "namespace": "prod", "selector": "app=api"}, nothing)
    for rule, args in ((rules.pods_ready, ()), (rules.restarts, (0,))):
        finding = rule(evidence, *args)
        assert finding.outcome is Outcome.INCONCLUSIVE  # restarts counted over no pod passed before
        assert finding.message == (
            "the selector app=api matches no pod in namespace prod: check `kubernetes.selector` and the namespace "
            "(--namespace)"
        )


def test_a_deployment_scaled_to_zero_has_no_pods_to_judge_and_one_without_its_pods_fails():
    idle = replace(ROLLED_OUT, desired=0, updated=0, ready=0, available=0, pods=())
    assert judged(idle, rules.pods_ready) == (Outcome.INCONCLUSIVE, "Deployment prod/api is scaled to zero: no pods "
                                              "to judge")  # fmt: skip
    assert judged(idle, rules.restarts, 0)[0] is Outcome.INCONCLUSIVE
    empty = replace(ROLLED_OUT, pods=())
    assert judged(empty, rules.pods_ready) == (Outcome.FAILED, "ReplicaSet prod/api-7f9: 0 pods exist, 2 wanted")
