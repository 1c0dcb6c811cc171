"""The suite against a real control plane: the rollout checks, and the rollback a FAIL verdict triggers.

The Deployments roll out on kwok's fake nodes; the HTTP side is the demo service on loopback, put into the fault
modes of the image the Deployment runs (`Follower`): v2 fails its health check, v1 is healthy.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from deploycheck.verdict import schema
from tests.cluster.test_control_plane import make_chart
from tests.cluster.workloads import (
    Follower,
    crash_loop,
    deploy,
    deployment,
    image_of,
    limited_kubeconfig,
    revision_of,
    rollout_status,
    set_image,
)
from tests.conftest import SuiteRun, set_faults, write_environment

pytestmark = pytest.mark.cluster
pytest_plugins = ["tests.webhook_receiver"]

V1, V2 = "v2.3.0", "v2.3.1"  # the demo serves v2.3.1: the version just deployed
ROLLOUT_CHECKS = ("rollout.complete", "rollout.pods_ready", "rollout.restarts", "rollout.image_matches")


@pytest.fixture
def orders(kube_cluster, kube_namespace, start_demo, tmp_path):
    """The `orders` Deployment rolled out from v1 to v2, its demo service following the image, and an environment
    file for it (production, without `requires_approval`: the default, true, guards it)."""
    cp, ns = kube_cluster, kube_namespace
    deploy(cp, ns, "orders", V1)
    running = start_demo("orders")
    follower = Follower(cp, ns, running, "orders", {V1: [], V2: ["unhealthy"]}, deployment="orders")

    def environment(modes_of_v2: list[str] | None = None, kubeconfig: Path | None = None, **rollback) -> Path:
        if modes_of_v2 is not None:
            follower.modes[V2] = modes_of_v2
        service = {
            "url": running.urls["orders"],
            "kubernetes": {"deployment": "orders"},
            "rollback": {"strategy": "kubernetes", "timeout": "60s", **rollback},
        }
        cluster = {"kubeconfig": str(kubeconfig or cp.kubeconfig), "namespace": ns}
        return write_environment(tmp_path / "environments", "production", {"orders": service}, kubernetes=cluster)

    yield environment
    follower.stop()


def test_a_healthy_rollout_passes_and_its_tag_is_the_expected_version(
    kube_cluster, kube_namespace, orders, run_suite, workers
):
    environments = orders(modes_of_v2=[])
    set_image(kube_cluster, kube_namespace, "orders", V2)
    run = run_suite(environments, "--env", "production", "--expected-version", V2, workers=workers)

    assert run.ret == 0, run.stdout
    outcomes = run.outcomes()
    assert {check: outcomes[("orders", check)] for check in ROLLOUT_CHECKS} == dict.fromkeys(ROLLOUT_CHECKS, "passed")
    complete = next(f for f in run.verdict["services"]["orders"]["findings"] if f["check"] == "rollout.complete")
    assert complete["observed"]["revision"] == 2 and complete["source"]["namespace"] == kube_namespace

    # Without --expected-version, the tag just deployed is what /version must serve.
    run = run_suite(environments, "--env", "production", "-k", "version or image_matches")
    assert run.ret == 0, run.stdout
    assert run.outcomes() == {
        ("orders", "version.matches_expected"): "passed",
        ("orders", "rollout.image_matches"): "skipped",
    }


def test_a_failing_v2_is_rolled_back_to_v1_and_verified(kube_cluster, kube_namespace, orders, run_suite, workers):
    cp, ns = kube_cluster, kube_namespace
    environments = orders()
    set_image(cp, ns, "orders", V2)
    run = run_suite(environments, "--env", "production", "--rollback", "--approve", workers=workers)

    assert run.ret == 1, run.stdout  # the verdict stays FAIL: v2 failed; the rollback succeeded
    assert run.not_passed() == {("orders", "health.liveness"): "failed"}
    [action] = run.verdict["actions"]
    assert action["result"] == "rolled back" and action["recovered"] is True, action
    assert action["object"] == f"Deployment {ns}/orders"
    assert action["from"] == f"revision 2 (registry.example/orders:{V2})"
    assert action["to"] == f"revision 1 (registry.example/orders:{V1})"
    assert "health passed" in action["verified"] and "previous image deployed again" in action["verified"]
    assert action["approval"] == "given: --approve"
    assert image_of(cp, ns, "orders") == f"registry.example/orders:{V1}"
    assert revision_of(cp, ns, "orders") == "3"  # the controller really rolled back: v1's ReplicaSet, revision 3
    assert "action: rollback: service orders" in run.stdout
    jsonschema.validate(run.verdict, schema())


def test_a_rollback_a_file_let_go_ahead_without_approve_says_so_in_every_message(
    kube_cluster, kube_namespace, orders, run_suite, receiver, workers
):
    cp, ns = kube_cluster, kube_namespace
    file = orders() / "production.yaml"
    hooks = [{"url": f"{receiver.url}/slack", "format": "slack"}, {"url": f"{receiver.url}/json"}]
    configured = {**yaml.safe_load(file.read_text()), "requires_approval": False, "notifications": {"webhooks": hooks}}
    file.write_text(yaml.safe_dump(configured, sort_keys=False))
    set_image(cp, ns, "orders", V2)
    run = run_suite(file.parent, "--env", "production", "--rollback", workers=workers)  # no --approve

    assert run.ret == 1, run.stdout
    [action] = run.verdict["actions"]
    said = f"approval not required: {file} sets requires_approval: false"
    assert action["result"] == "rolled back" and f"approval {action['approval']}" == said, action
    assert said in run.stdout  # the terminal's action line
    (slack,) = receiver.bodies("/slack")
    assert "action: rollback orders rolled back (" + said + ")" in slack["text"].splitlines(), slack["text"]
    (generic,) = receiver.bodies("/json")
    assert generic["notes"] == ["rollback orders: " + said] and generic["actions"] == run.verdict["actions"]


def test_nothing_changes_without_rollback_without_approval_or_in_a_dry_run(
    kube_cluster, kube_namespace, orders, run_suite
):
    cp, ns = kube_cluster, kube_namespace
    environments = orders()
    set_image(cp, ns, "orders", V2)

    run = run_suite(environments, "--env", "production")
    assert run.ret == 1 and run.verdict["actions"] == [], run.stdout

    run = run_suite(environments, "--env", "production", "--rollback")
    [refused] = run.verdict["actions"]
    assert refused["result"] == "refused", refused
    assert "requires approval: rerun with --approve" in refused["reason"]  # the file never set it: true
    assert "result refused, reason environment production requires approval: rerun with --approve" in run.stdout
    assert run.ret == 1

    run = run_suite(environments, "--env", "production", "--rollback", "--dry-run")
    [planned] = run.verdict["actions"]
    assert planned["result"] == "planned" and planned["to"] == f"revision 1 (registry.example/orders:{V1})"
    assert f"object Deployment {ns}/orders, from revision 2" in run.stdout  # the plan, printed
    assert image_of(cp, ns, "orders") == f"registry.example/orders:{V2}" and revision_of(cp, ns, "orders") == "2"


def test_without_patch_rights_the_rollback_is_reported_failed(
    kube_cluster, kube_namespace, orders, run_suite, tmp_path
):
    cp, ns = kube_cluster, kube_namespace
    kubeconfig = limited_kubeconfig(cp, ns, tmp_path / "limited.kubeconfig", verbs=["get", "list"])
    environments = orders(kubeconfig=kubeconfig)
    set_image(cp, ns, "orders", V2)
    run = run_suite(environments, "--env", "production", "--rollback", "--approve")

    assert run.ret == 7, run.stdout  # FAIL, and the rollback asked for did not happen
    assert run.verdict["exit_status"] == 7
    jsonschema.validate(run.verdict, schema())
    [action] = run.verdict["actions"]
    assert action["result"] == "failed"
    assert f"forbidden (403) to patch deployments.apps in namespace {ns}" in action["reason"]
    assert image_of(cp, ns, "orders") == f"registry.example/orders:{V2}"
    assert run.outcomes()[("orders", "rollout.complete")] == "passed"  # reading was allowed


def test_crash_looping_pods_fail_pods_ready_naming_pod_and_container(
    kube_cluster, kube_namespace, orders, run_suite, workers
):
    cp, ns = kube_cluster, kube_namespace
    environments = orders(modes_of_v2=[])
    set_image(cp, ns, "orders", V2)
    crash_loop(cp, ns, "orders")
    run = run_suite(environments, "--env", "production", "-k", "rollout", workers=workers)

    assert run.ret == 1, run.stdout
    outcomes = run.outcomes()
    assert outcomes[("orders", "rollout.pods_ready")] == outcomes[("orders", "rollout.restarts")] == "failed"
    findings = {f["check"]: f for f in run.verdict["services"]["orders"]["findings"]}
    assert "/app: CrashLoopBackOff, last exit OOMKilled" in findings["rollout.pods_ready"]["message"]
    assert "orders-" in findings["rollout.pods_ready"]["message"]
    assert findings["rollout.restarts"]["observed"]["restarts"] == 10


def test_a_stuck_rollout_fails_once_past_its_progress_deadline(kube_cluster, kube_namespace, orders, run_suite):
    cp, ns = kube_cluster, kube_namespace
    environments = orders(modes_of_v2=[])
    # v2's pods can be scheduled nowhere: the rollout never finishes, and the controller says so after 2s.
    unschedulable = {"progressDeadlineSeconds": 2, "pod_spec": {"nodeSelector": {"no-such": "node"}}}
    deploy(cp, ns, "orders", V2, wait=False, **unschedulable)
    run = run_suite(environments, "--env", "production", "-k", "test_rollout and complete", "--wait-ready", "30s")

    assert run.ret == 1, run.stdout
    finding = run.verdict["services"]["orders"]["findings"][0]
    assert finding["outcome"] == "failed" and "ProgressDeadlineExceeded" in finding["message"], finding


def test_a_missing_deployment_fails_and_an_unreachable_cluster_is_inconclusive(
    kube_namespace, orders, run_suite, tmp_path
):
    environments = orders()
    only_complete = ("-k", "test_rollout and complete")
    run = run_suite(environments, "--env", "production", "--namespace", "no-such-namespace", *only_complete)
    assert run.ret == 1, run.stdout
    assert "Deployment no-such-namespace/orders not found" in run.verdict["reasons"][0]

    unreachable = tmp_path / "unreachable.kubeconfig"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"token": "t0ken-not-shown"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
    }
    unreachable.write_text(json.dumps(config))
    run = run_suite(orders(kubeconfig=unreachable), "--env", "production", *only_complete)
    assert run.ret == 6, run.stdout
    assert "the Kubernetes API is unreachable" in run.verdict["reasons"][0]
    assert "t0ken-not-shown" not in run.stdout


def test_a_pod_selector_that_matches_nothing_is_inconclusive_naming_it_and_the_namespace(
    kube_cluster, kube_namespace, start_demo, run_suite, tmp_path, workers
):
    deploy(kube_cluster, kube_namespace, "orders", V1)
    running = start_demo("orders")
    cluster = {"kubeconfig": str(kube_cluster.kubeconfig), "namespace": kube_namespace}

    def run_with(selector: str) -> SuiteRun:
        service = {"url": running.urls["orders"], "kubernetes": {"selector": selector}}
        environments = write_environment(tmp_path / "environments", "staging", {"orders": service}, kubernetes=cluster)
        return run_suite(environments, "--env", "staging", "-k", "test_rollout", workers=workers)

    run = run_with("app=order")  # a typo: the pods are app=orders
    assert run.ret == 6, run.stdout
    assert run.not_passed() == {("orders", "rollout.pods_ready"): "inconclusive", ("orders", "rollout.restarts"):
                                "inconclusive"}  # fmt: skip
    said = f"the selector app=order matches no pod in namespace {kube_namespace}: check `kubernetes.selector`"
    assert all(said in reason for reason in run.verdict["reasons"]), run.verdict["reasons"]

    run = run_with("app=orders")
    assert run.ret == 0, run.stdout
    assert run.outcomes()[("orders", "rollout.pods_ready")] == "passed"


def run_with_rollback(
    cp, ns, run_suite, tmp_path, url: str, deployment_name: str, rollback: dict[str, str]
) -> SuiteRun:
    """The suite with --rollback against `orders` at `url`, whose workload and rollback strategy are given."""
    service = {
        "url": url,
        "kubernetes": {"deployment": deployment_name},
        "rollback": {**rollback, "timeout": "60s"},
    }
    cluster = {"kubeconfig": str(cp.kubeconfig), "namespace": ns}
    environments = write_environment(
        tmp_path / "environments", "staging", {"orders": service}, requires_approval=False, kubernetes=cluster
    )
    return run_suite(environments, "--env", "staging", "--rollback")


def test_helm_upgrade_to_a_failing_version_is_rolled_back(
    kube_cluster, kube_namespace, helm, start_demo, run_suite, tmp_path, monkeypatch
):
    cp, ns = kube_cluster, kube_namespace
    chart = make_chart(tmp_path)
    wait = ("--wait", "--timeout", "60s")
    cp.helm("install", "orders", str(chart), "-n", ns, "--set", f"image.tag={V1}", *wait)
    running = start_demo("orders")
    follower = Follower(cp, ns, running, "orders", {V1: [], V2: ["unhealthy"]}, deployment="orders")
    try:
        cp.helm("upgrade", "orders", str(chart), "-n", ns, "--set", f"image.tag={V2}", *wait)
        for variable in ("PATH", "HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
            monkeypatch.setenv(variable, cp.env[variable])  # the suite finds this cluster's helm on PATH
        rollback = {"strategy": "helm", "release": "orders"}
        run = run_with_rollback(cp, ns, run_suite, tmp_path, running.urls["orders"], "orders", rollback)
    finally:
        follower.stop()

    assert run.ret == 1, run.stdout
    [action] = run.verdict["actions"]
    assert action["result"] == "rolled back" and action["recovered"] is True, action
    assert action["from"].startswith("revision 2") and action["to"].startswith("revision 1"), action
    assert action["approval"].endswith("staging.yaml sets requires_approval: false"), action
    history = json.loads(cp.helm("history", "orders", "-n", ns, "-o", "json").stdout)
    assert history[-1]["revision"] == 3 and "Rollback to 1" in history[-1]["description"]
    assert image_of(cp, ns, "orders") == f"registry.example/demo:{V1}"


def test_the_new_replicasets_creation_is_the_deploy_time_of_the_metric_checks(
    kube_cluster, kube_namespace, orders, run_suite
):
    cp, ns = kube_cluster, kube_namespace
    environments = orders(modes_of_v2=[])
    set_image(cp, ns, "orders", V2)
    path = environments / "production.yaml"
    document = yaml.safe_load(path.read_text())
    document["prometheus"] = {"url": "http://127.0.0.1:9", "timeout": "1s"}  # nothing listens: only the queries
    document["services"]["orders"].update(metrics={"source": "prometheus"}, baseline={"window": "10m"})
    path.write_text(yaml.safe_dump(document))
    run = run_suite(environments, "--env", "production", "-k", "latency")

    created = cp.kubectl_json("get", "replicasets", "-n", ns, "-l", "app=orders")["items"]
    newest = max(rs["metadata"]["creationTimestamp"] for rs in created)
    findings = {f["check"]: f for f in run.verdict["services"]["orders"]["findings"]}
    # No --deployed-at: the baseline window ends, and the current one starts, when v2's ReplicaSet was made.
    assert f"baseline 10m ending {newest}" in findings["latency.p95_vs_baseline"]["window"], findings


def blue_green(cp, ns, live: str = "green") -> None:
    """Deployments orders-blue (v1) and orders-green (v2), and the Service `orders` selecting the `live` one."""
    for colour, tag in (("blue", V1), ("green", V2)):
        labels = {"app": "orders", "colour": colour}
        manifest = json.loads(deployment(f"orders-{colour}", f"registry.example/orders:{tag}"))
        manifest["spec"]["selector"]["matchLabels"] = manifest["spec"]["template"]["metadata"]["labels"] = labels
        cp.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(manifest))
        rollout_status(cp, ns, f"orders-{colour}")
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "orders"},
        "spec": {"selector": {"app": "orders", "colour": live}, "ports": [{"port": 80}]},
    }
    cp.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(service))


def selector_of(cp, ns) -> dict[str, str]:
    return cp.kubectl_json("get", "service", "orders", "-n", ns)["spec"]["selector"]


def test_blue_green_switches_the_service_back_to_the_previous_colour(
    kube_cluster, kube_namespace, start_demo, run_suite, tmp_path
):
    cp, ns = kube_cluster, kube_namespace
    blue_green(cp, ns, live="green")
    running = start_demo("orders")
    follower = Follower(cp, ns, running, "orders", {"blue": [], "green": ["unhealthy"]}, selector_of="orders")
    try:
        rollback = {"strategy": "blue-green", "service": "orders"}
        run = run_with_rollback(cp, ns, run_suite, tmp_path, running.urls["orders"], "orders-green", rollback)
    finally:
        follower.stop()

    assert run.ret == 1, run.stdout
    [action] = run.verdict["actions"]
    assert action["result"] == "rolled back" and action["recovered"] is True, action
    assert (action["from"], action["to"]) == ("selector colour=green", "selector colour=blue")
    assert selector_of(cp, ns) == {"app": "orders", "colour": "blue"}


@pytest.fixture
def promotion(kube_cluster, kube_namespace, start_demo, tmp_path):
    """Blue live, green idle; the demo's `orders` is the live URL (it behaves as the colour the Service selects),
    `orders-preview` the idle colour's own URL. Yields (environments, live modes by colour, the demo)."""
    cp, ns = kube_cluster, kube_namespace
    blue_green(cp, ns, live="blue")
    running = start_demo("orders", "orders-preview")
    modes: dict[str, list[str]] = {"blue": [], "green": []}
    follower = Follower(cp, ns, running, "orders", modes, selector_of="orders")
    service = {
        "url": running.urls["orders"],
        "kubernetes": {"deployment": "orders-green"},
        "rollback": {
            "strategy": "blue-green",
            "service": "orders",
            "timeout": "5s",
            "preview_url": running.urls["orders-preview"],
        },
    }
    cluster = {"kubeconfig": str(cp.kubeconfig), "namespace": ns}
    yield (
        write_environment(
            tmp_path / "environments", "staging", {"orders": service}, requires_approval=False, kubernetes=cluster
        ),
        modes,
        running,
    )
    follower.stop()


def test_promote_switches_only_after_the_idle_colour_passed(kube_cluster, kube_namespace, promotion, run_suite):
    environments, _, demo = promotion
    set_faults(demo, "orders-preview", ["unhealthy"])  # green, seen through its own URL, fails
    run = run_suite(environments, "--env", "staging", "--promote")
    assert run.ret == 1, run.stdout
    assert run.not_passed() == {("orders", "health.liveness"): "failed"}
    assert [a["result"] for a in run.verdict["actions"]] == ["not done"]
    assert selector_of(kube_cluster, kube_namespace)["colour"] == "blue"

    set_faults(demo, "orders-preview", [])
    run = run_suite(environments, "--env", "staging", "--promote", "--rollback")
    assert run.ret == 0, run.stdout
    [action] = [a for a in run.verdict["actions"] if a["action"] == "promote"]
    assert action["result"] == "promoted", action
    assert (action["from"], action["to"]) == ("selector colour=blue", "selector colour=green")
    assert "colour=blue kept for a rollback" in action["reason"] and "health passed" in action["verified"]
    assert action["approval"].endswith("staging.yaml sets requires_approval: false"), action  # no --approve given
    assert "approval not required: " in run.stdout  # and the terminal says so
    assert selector_of(kube_cluster, kube_namespace)["colour"] == "green"


def test_promote_switches_back_when_the_live_url_fails(kube_cluster, kube_namespace, promotion, run_suite, workers):
    environments, modes, _ = promotion
    modes["green"] = ["unhealthy"]  # healthy through its preview URL, not once it takes the live traffic
    run = run_suite(environments, "--env", "staging", "--promote", workers=workers)

    assert run.ret == 7, run.stdout
    [action] = run.verdict["actions"]
    assert action["result"] == "switched back", action
    assert "traffic switched back to blue" in action["reason"] and "health failed" in action["verified"]
    assert selector_of(kube_cluster, kube_namespace)["colour"] == "blue"
    jsonschema.validate(run.verdict, schema())
