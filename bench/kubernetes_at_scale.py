"""Kubernetes evidence at scale: the rollout of N Deployments (2 pods each, kwok's fake nodes), all at once.

Starts the local control plane of tools/k8s (real etcd, kube-apiserver, controllers; kwok for the nodes), rolls
out N Deployments and starts N demo services, then times each row ROUNDS times (rows interleaved within a round)
and prints medians with the ratio to the floor:

    floor           a minimal program making the same calls: per service GET the Deployment, then list its
                    ReplicaSets and pods (label selector) and the Warning events, on 16 threads with urllib3
    rollout         deploycheck.evidence.store.EvidenceStore.prefetch of the `rollout` probe of every service (the
                    official client, 16 threads, the answers turned into the checks' plain values)
    http            the same store gathering `health` and `version` of every service (no cluster)
    http+rollout    both at once, as a run of the whole suite gathers them

    python bench/kubernetes_at_scale.py [--services 50] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import ssl
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import urllib3  # noqa: E402

from deploycheck import demo  # noqa: E402
from deploycheck.config.loader import Demo, Environment, load_environment  # noqa: E402
from deploycheck.evidence.probe import GatherSettings  # noqa: E402
from deploycheck.evidence.store import EvidenceStore  # noqa: E402
from deploycheck.kinds.kubernetes import probes as kubernetes_evidence  # noqa: E402, F401  (registers the rollout probe)
from deploycheck.kinds.kubernetes.session import Rollout  # noqa: E402
from tools.k8s.cluster import ControlPlane  # noqa: E402

NAMESPACE = "default"
THREADS = 16
Row = Callable[[], float]


def deployments(names: list[str]) -> str:
    items = [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "labels": {"app": name}},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "app", "image": f"registry.example/{name}:v1"}]},
                },
            },
        }
        for name in names
    ]
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": items})


def environment(cp: ControlPlane, urls: dict[str, str], directory: Path) -> Environment:
    services = {name: {"url": url, "kubernetes": {"deployment": name}} for name, url in urls.items()}
    document = {
        "environment": "bench",
        "defaults": {"timeout": "30s", "health": {"path": "/health"}, "version": {"path": "/version"}},
        "kubernetes": {"kubeconfig": str(cp.kubeconfig), "namespace": NAMESPACE},
        "services": services,
    }
    (directory / "bench.yaml").write_text(json.dumps(document))  # JSON is YAML
    return load_environment(directory, "bench", environ={})


def store_row(env: Environment, probes: tuple[str, ...]) -> Row:
    def row() -> float:
        store = EvidenceStore(env, GatherSettings())
        keys = [(name, probe) for name in env.services for probe in probes]
        started = time.perf_counter()
        store.prefetch(keys)
        elapsed = time.perf_counter() - started
        for key in keys:
            evidence = store.get(*key)
            good = isinstance(evidence.value, Rollout) if key[1] == "rollout" else evidence.ok
            if not good:
                raise SystemExit(f"{key}: {evidence.error}")
        return elapsed

    return row


def floor_row(cp: ControlPlane, names: list[str]) -> Row:
    assert cp.workdir is not None
    context = ssl.create_default_context(cafile=str(cp.workdir / "ca.crt"))
    context.load_cert_chain(str(cp.workdir / "admin.crt"), str(cp.workdir / "admin.key"))
    pool = urllib3.PoolManager(maxsize=THREADS, ssl_context=context, retries=False)
    base = f"{cp.server}/apis/apps/v1/namespaces/{NAMESPACE}"
    core = f"{cp.server}/api/v1/namespaces/{NAMESPACE}"

    def get(url: str) -> object:
        answer = pool.request("GET", url, timeout=30)
        if answer.status != 200:
            raise SystemExit(f"GET {url}: {answer.status}")
        return json.loads(answer.data)

    def one(name: str, threads: ThreadPoolExecutor) -> None:
        get(f"{base}/deployments/{name}")
        lists = [
            f"{base}/replicasets?labelSelector=app%3D{name}",
            f"{core}/pods?labelSelector=app%3D{name}",
            f"{core}/events?fieldSelector=type%3DWarning",
        ]
        list(threads.map(get, lists))

    def row() -> float:
        started = time.perf_counter()
        with ThreadPoolExecutor(THREADS) as services, ThreadPoolExecutor(THREADS) as lists:
            list(services.map(lambda name: one(name, lists), names))
        return time.perf_counter() - started

    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--services", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    names = [f"svc-{index:03d}" for index in range(1, options.services + 1)]
    with ControlPlane() as cp, tempfile.TemporaryDirectory() as directory:
        cp.kubectl("apply", "-n", NAMESPACE, "-f", "-", input=deployments(names))
        cp.kubectl(
            "wait", "-n", NAMESPACE, "--for=condition=Available", "deployment", "--all", "--timeout=300s", timeout=320
        )
        running = demo.start(Demo(services=tuple(names)))
        try:
            env = environment(cp, dict(running.urls), Path(directory))
            rows: dict[str, Row] = {
                "floor": floor_row(cp, names),
                "rollout": store_row(env, ("rollout",)),
                "http": store_row(env, ("health", "version")),
                "http+rollout": store_row(env, ("health", "version", "rollout")),
            }
            for row in rows.values():  # warm-up: imports, TLS, the apiserver's caches
                row()
            timings: dict[str, list[float]] = {name: [] for name in rows}
            for _ in range(options.repeat):
                for name, row in rows.items():
                    timings[name].append(row())
        finally:
            running.stop()
    medians = {name: statistics.median(values) for name, values in timings.items()}
    print(
        f"{options.services} services, 2 pods each; {4 * options.services} API calls for the rollouts; "
        f"median of {options.repeat}"
    )
    print(f"{'row':<14} {'median':>8} {'/ floor':>8}")
    for name, seconds in medians.items():
        print(f"{name:<14} {seconds:>7.3f}s {seconds / medians['floor']:>7.1f}x", flush=True)


if __name__ == "__main__":
    main()
