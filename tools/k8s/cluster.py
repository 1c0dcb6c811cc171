"""A throw-away Kubernetes control plane on loopback, for the cluster test tier.

Runs real etcd, kube-apiserver, kube-controller-manager and kube-scheduler
processes (built from source by ``tools/k8s/build.sh``) plus kwok, which plays
the kubelet of a few fake nodes: pods scheduled to them are marked Running and
Ready, so Deployments really roll out, and ``kubectl rollout undo`` /
``helm rollback`` really happen.  Nothing is pulled or run: images are just
strings.

Everything listens on 127.0.0.1 on free ports, and all state (certificates,
etcd data, kubeconfig, logs) lives in one temporary directory removed by
:meth:`ControlPlane.stop`.

Environment: DEPLOYCHECK_CACHE (cache root, as in build.sh),
DEPLOYCHECK_K8S_BIN (use binaries from this directory instead),
DEPLOYCHECK_K8S_KEEP=1 (keep the temporary directory with the logs after stop).

Plain Python (no pytest), standard library only, plus the ``openssl`` CLI::

    from tools.k8s.cluster import ControlPlane

    ok, reason = ControlPlane.available()
    with ControlPlane() as cp:
        cp.kubectl("get", "nodes")
        subprocess.run(["kubectl", "get", "pods"], env=cp.env)
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from deploycheck.children import die_with_parent

HERE = Path(__file__).resolve().parent
BUILD_SCRIPT = HERE / "build.sh"

#: Processes the control plane cannot run without (kubectl may come from PATH).
REQUIRED_BINARIES = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
)
KWOK_STAGES = "kwok-stages.yaml"

#: Rough duration of the first (cold) build on a 2-core machine, for messages.
COLD_BUILD_MINUTES = 15

#: Annotation kwok selects the nodes it manages by (--manage-nodes-with-annotation-selector).
KWOK_NODE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")

SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"  # a config value only; no traffic
POD_CIDR = "10.244.0.1/16"  # pod IPs kwok hands out; no traffic either


class ControlPlaneError(RuntimeError):
    """Raised when the control plane cannot be started or a command fails."""


def k8s_version() -> str:
    """The Kubernetes version pinned in build.sh (K8S_VERSION=...)."""
    match = re.search(r"^K8S_VERSION=(\S+)", BUILD_SCRIPT.read_text(), re.M)
    if not match:  # pragma: no cover - build.sh is part of this directory
        raise ControlPlaneError(f"no K8S_VERSION= line in {BUILD_SCRIPT}")
    return match.group(1)


def cache_dir() -> Path:
    """Same logic as build.sh: ${DEPLOYCHECK_CACHE:-$HOME/.cache/deploycheck}."""
    env = os.environ.get("DEPLOYCHECK_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "deploycheck"


def default_bin_dir() -> Path:
    """Where the binaries are: $DEPLOYCHECK_K8S_BIN, else build.sh's bin dir."""
    env = os.environ.get("DEPLOYCHECK_K8S_BIN")
    if env:
        return Path(env)
    return cache_dir() / "k8s" / k8s_version() / "bin"


def find_go() -> str | None:
    go = shutil.which("go")
    if go:
        return go
    if os.access("/usr/local/go/bin/go", os.X_OK):
        return "/usr/local/go/bin/go"
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (bind port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(cannot read {path}: {exc})"
    return "\n".join(text.splitlines()[-lines:])


_OPENSSL_CNF = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = @alt
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
[alt]
DNS.1 = localhost
DNS.2 = kubernetes
DNS.3 = kubernetes.default
DNS.4 = kubernetes.default.svc
DNS.5 = kubernetes.default.svc.cluster.local
IP.1 = 127.0.0.1
IP.2 = 10.0.0.1
"""


class ControlPlane:
    """etcd + kube-apiserver + controller-manager + scheduler + kwok on loopback.

    After :meth:`start`: ``kubeconfig`` (admin, system:masters), ``server``
    (https URL), ``env`` (os.environ plus KUBECONFIG, the bin dir first on
    PATH so ``kubectl``/``helm`` match the server, and private HELM_* dirs),
    ``nodes`` (names of the fake nodes), ``timings`` (seconds per phase,
    ``timings["total"]`` is the time-to-ready).
    """

    def __init__(
        self,
        bin_dir: str | os.PathLike[str] | None = None,
        nodes: int = 3,
        log: Callable[[str], None] | None = None,
        keep_workdir: bool | None = None,
    ) -> None:
        self.bin_dir = Path(bin_dir) if bin_dir else default_bin_dir()
        self.node_count = nodes
        self._log = log or (lambda msg: None)
        if keep_workdir is None:
            keep_workdir = os.environ.get("DEPLOYCHECK_K8S_KEEP", "") not in ("", "0")
        self.keep_workdir = keep_workdir
        self.workdir: Path | None = None
        self.kubeconfig: Path | None = None
        self.server: str | None = None
        self.env: dict[str, str] = {}
        self.nodes: list[str] = []
        self.timings: dict[str, float] = {}
        self.ports: dict[str, int] = {}
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._ssl: ssl.SSLContext | None = None

    # ------------------------------------------------------------ discovery

    @classmethod
    def available(cls, bin_dir: str | os.PathLike[str] | None = None) -> tuple[bool, str]:
        """(True, "") when the control plane can start, else (False, why)."""
        bdir = Path(bin_dir) if bin_dir else default_bin_dir()
        missing = [b for b in REQUIRED_BINARIES if not os.access(bdir / b, os.X_OK)]
        if not (bdir / KWOK_STAGES).is_file():
            missing.append(KWOK_STAGES)
        if not missing and not (os.access(bdir / "kubectl", os.X_OK) or shutil.which("kubectl")):
            missing.append("kubectl")
        if missing:
            if "DEPLOYCHECK_K8S_BIN" in os.environ and not bin_dir:
                return False, (f"DEPLOYCHECK_K8S_BIN={bdir} lacks {', '.join(missing)}")
            if find_go() is None:
                return False, (
                    "Go not installed; the cluster tier needs it "
                    "(tools/k8s/build.sh builds the control plane from source)"
                )
            return False, (
                "binaries not built: run tools/k8s/build.sh (first build takes "
                f"~{COLD_BUILD_MINUTES} minutes); missing in {bdir}: {', '.join(missing)}"
            )
        if shutil.which("openssl") is None:
            return False, "openssl CLI not found (needed for the cluster certificates)"
        return True, ""

    def _bin(self, name: str) -> str:
        path = self.bin_dir / name
        if os.access(path, os.X_OK):
            return str(path)
        found = shutil.which(name)
        if found:
            return found
        raise ControlPlaneError(f"{name} not found in {self.bin_dir} nor on PATH")

    @property
    def kubectl_path(self) -> str:
        return self._bin("kubectl")

    @property
    def helm_path(self) -> str | None:
        try:
            return self._bin("helm")
        except ControlPlaneError:
            return None

    # ------------------------------------------------------------ lifecycle

    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, timeout: float = 120.0) -> ControlPlane:
        """Start everything; return when nodes are Ready and the ``default``
        namespace and its ``default`` ServiceAccount exist."""
        ok, reason = self.available(self.bin_dir)
        if not ok:
            raise ControlPlaneError(reason)
        if self._procs:
            raise ControlPlaneError("already started")
        t0 = time.monotonic()
        deadline = t0 + timeout
        for attempt in (1, 2):
            self.workdir = Path(tempfile.mkdtemp(prefix="deploycheck-k8s-"))
            (self.workdir / "logs").mkdir()
            self.timings, self.nodes = {}, []
            try:
                self._start(t0, deadline)
                break
            except ControlPlaneError as exc:
                self.stop()
                # A free port taken by someone else between the probe and the
                # bind: once more with new ports.
                if attempt == 2 or "address already in use" not in str(exc):
                    raise
                self._log(f"port collision, restarting: {exc}")
            except BaseException:
                self.stop()
                raise
        self.timings["total"] = round(time.monotonic() - t0, 2)
        self._log(f"control plane ready in {self.timings['total']:.1f}s ({self.server})")
        return self

    def _phase(self, name: str, t0: float) -> None:
        self.timings[name] = round(time.monotonic() - t0, 2)

    def _start(self, t0: float, deadline: float) -> None:
        assert self.workdir is not None
        wd = self.workdir
        self._make_certs()
        self._phase("certs", t0)
        for name in ("etcd", "etcd-peer", "apiserver", "controller-manager", "scheduler", "kwok"):
            self.ports[name] = free_port()
        p = self.ports

        etcd_url = f"http://127.0.0.1:{p['etcd']}"
        peer_url = f"http://127.0.0.1:{p['etcd-peer']}"
        self._spawn(
            "etcd",
            [
                self._bin("etcd"),
                "--name=deploycheck",
                f"--data-dir={wd / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=deploycheck={peer_url}",
                "--initial-cluster-state=new",
                "--unsafe-no-fsync",  # throw-away data: no fsync, much faster
                "--log-level=warn",
            ],
        )
        self._wait("etcd", deadline, lambda: self._http_ok(f"{etcd_url}/health"))
        self._phase("etcd", t0)

        self.server = f"https://127.0.0.1:{p['apiserver']}"
        self._spawn(
            "kube-apiserver",
            [
                self._bin("kube-apiserver"),
                "--advertise-address=127.0.0.1",
                "--bind-address=127.0.0.1",
                f"--secure-port={p['apiserver']}",
                f"--etcd-servers={etcd_url}",
                "--endpoint-reconciler-type=none",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={wd / 'sa.pub'}",
                f"--service-account-signing-key-file={wd / 'sa.key'}",
                f"--client-ca-file={wd / 'ca.crt'}",
                f"--tls-cert-file={wd / 'apiserver.crt'}",
                f"--tls-private-key-file={wd / 'apiserver.key'}",
                f"--cert-dir={wd / 'apiserver-certs'}",
                "--authorization-mode=Node,RBAC",
                "--allow-privileged=true",
                "--profiling=false",
            ],
        )
        self._ssl = ssl.create_default_context(cafile=str(wd / "ca.crt"))
        self._ssl.load_cert_chain(str(wd / "admin.crt"), str(wd / "admin.key"))
        self._wait("kube-apiserver", deadline, lambda: self._http_ok(f"{self.server}/readyz"))
        self._phase("apiserver", t0)

        self.kubeconfig = wd / "kubeconfig"
        self.kubeconfig.write_text(self._kubeconfig_text())
        self.env = self._make_env()
        kc = f"--kubeconfig={self.kubeconfig}"
        self._spawn(
            "kube-controller-manager",
            [
                self._bin("kube-controller-manager"),
                kc,
                f"--authentication-kubeconfig={self.kubeconfig}",
                f"--authorization-kubeconfig={self.kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={p['controller-manager']}",
                f"--cert-dir={wd / 'controller-manager-certs'}",
                "--leader-elect=false",
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={wd / 'sa.key'}",
                f"--root-ca-file={wd / 'ca.crt'}",
                # The default-on controllers minus the ones that need a cloud.
                "--controllers=*,-cloud-node-lifecycle-controller,-node-route-controller,-service-lb-controller",
                # Notice node conditions (and lift the not-ready taint) within 1s.
                "--node-monitor-period=1s",
                # kwok renews the fake nodes' leases; on a loaded CI machine it can fall behind the default 50s,
                # and every pod would turn NotReady in the middle of a test.
                "--node-monitor-grace-period=300s",
                # Client-side throttling (20 qps) makes its start-up take seconds.
                "--kube-api-qps=200",
                "--kube-api-burst=400",
                "--profiling=false",
            ],
        )
        self._spawn(
            "kube-scheduler",
            [
                self._bin("kube-scheduler"),
                kc,
                f"--authentication-kubeconfig={self.kubeconfig}",
                f"--authorization-kubeconfig={self.kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={p['scheduler']}",
                f"--cert-dir={wd / 'scheduler-certs'}",
                "--leader-elect=false",
                "--profiling=false",
            ],
        )
        key, value = KWOK_NODE_ANNOTATION
        self._spawn(
            "kwok",
            [
                self._bin("kwok"),
                kc,
                f"--config={self.bin_dir / KWOK_STAGES}",
                "--manage-all-nodes=false",
                f"--manage-nodes-with-annotation-selector={key}={value}",
                f"--server-address=127.0.0.1:{p['kwok']}",
                f"--cidr={POD_CIDR}",
                "--node-ip=127.0.0.1",
            ],
        )
        for i in range(self.node_count):
            name = f"kwok-node-{i}"
            self._api("POST", "/api/v1/nodes", self._node_manifest(name))
            self.nodes.append(name)
        self._wait("fake nodes Ready (kwok)", deadline, self._nodes_ready, log="kwok")
        self._phase("nodes", t0)
        self._wait(
            "default namespace and ServiceAccount",
            deadline,
            lambda: self._exists("/api/v1/namespaces/default/serviceaccounts/default"),
            log="kube-controller-manager",
        )
        self._phase("default-serviceaccount", t0)

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate every process started (SIGTERM, then SIGKILL after
        ``timeout``) and remove the temporary directory.

        Clients go first, then the apiserver, then etcd: an apiserver whose
        etcd is gone hangs in its graceful shutdown."""
        stages = [
            [n for n in self._procs if n not in ("kube-apiserver", "etcd")],
            ["kube-apiserver"],
            ["etcd"],
        ]
        for names in stages:
            procs = [self._procs[n] for n in names if n in self._procs]
            for proc in procs:
                if proc.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        proc.terminate()
            end = time.monotonic() + timeout
            for proc in procs:
                try:
                    proc.wait(max(0.0, end - time.monotonic()))
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self._procs.clear()
        if self.workdir is not None and not self.keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    @property
    def running(self) -> bool:
        return bool(self._procs) and all(p.poll() is None for p in self._procs.values())

    def log_path(self, component: str) -> Path:
        assert self.workdir is not None, "not started"
        return self.workdir / "logs" / f"{component}.log"

    # ------------------------------------------------------------ commands

    def kubectl(
        self,
        *args: str,
        check: bool = True,
        timeout: float = 60.0,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this cluster; raise ControlPlaneError (with
        stderr) on a non-zero exit when ``check``."""
        return self._run([self.kubectl_path, *args], check, timeout, input)

    def kubectl_json(self, *args: str, timeout: float = 60.0) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json", timeout=timeout).stdout)

    def helm(
        self,
        *args: str,
        check: bool = True,
        timeout: float = 180.0,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        helm = self.helm_path
        if helm is None:
            raise ControlPlaneError("helm not built: run tools/k8s/build.sh")
        return self._run([helm, *args], check, timeout, input)

    def _run(
        self, cmd: Sequence[str], check: bool, timeout: float, input: str | None
    ) -> subprocess.CompletedProcess[str]:
        if not self.env:
            raise ControlPlaneError("control plane not started")
        try:
            res = subprocess.run(
                list(cmd),
                env=self.env,
                capture_output=True,
                text=True,
                timeout=timeout,
                input=input,
            )
        except subprocess.TimeoutExpired as exc:
            raise ControlPlaneError(
                f"timed out after {timeout}s: {' '.join(cmd)}\nstdout: {exc.stdout!r}\nstderr: {exc.stderr!r}"
            ) from None
        if check and res.returncode != 0:
            raise ControlPlaneError(
                f"exit {res.returncode}: {' '.join(cmd)}\n{res.stderr.strip()}\n{res.stdout.strip()}"
            )
        return res

    # ------------------------------------------------------------ internals

    def _make_env(self) -> dict[str, str]:
        assert self.workdir is not None and self.kubeconfig is not None
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        env["PATH"] = f"{self.bin_dir}{os.pathsep}{env.get('PATH', '')}"
        for var, sub in (("HELM_CACHE_HOME", "cache"), ("HELM_CONFIG_HOME", "config"), ("HELM_DATA_HOME", "data")):
            env[var] = str(self.workdir / "helm" / sub)
        return env

    def _openssl(self, *args: str) -> None:
        assert self.workdir is not None
        res = subprocess.run(["openssl", *args], cwd=self.workdir, capture_output=True, text=True, timeout=30)
        if res.returncode != 0:
            raise ControlPlaneError(f"openssl {' '.join(args)} failed:\n{res.stderr}")

    def _make_certs(self) -> None:
        """CA, apiserver serving cert, admin client cert (system:masters),
        service-account key; ECDSA P-256 (fast to generate)."""
        assert self.workdir is not None
        (self.workdir / "openssl.cnf").write_text(_OPENSSL_CNF)
        for key in ("ca", "apiserver", "admin", "sa"):
            self._openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", f"{key}.key")
        self._openssl("pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub")
        self._openssl(
            "req",
            "-x509",
            "-new",
            "-key",
            "ca.key",
            "-subj",
            "/CN=deploycheck-ca",
            "-days",
            "7",
            "-config",
            "openssl.cnf",
            "-extensions",
            "ca",
            "-out",
            "ca.crt",
        )
        for name, subj, ext in (
            ("apiserver", "/CN=kube-apiserver", "server"),
            ("admin", "/O=system:masters/CN=deploycheck-admin", "client"),
        ):
            self._openssl(
                "req", "-new", "-key", f"{name}.key", "-subj", subj, "-config", "openssl.cnf", "-out", f"{name}.csr"
            )
            self._openssl(
                "x509",
                "-req",
                "-in",
                f"{name}.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-set_serial",
                str(int.from_bytes(os.urandom(8), "big")),
                "-days",
                "7",
                "-extfile",
                "openssl.cnf",
                "-extensions",
                ext,
                "-out",
                f"{name}.crt",
            )

    def _kubeconfig_text(self) -> str:
        assert self.workdir is not None
        wd = self.workdir
        return (
            "apiVersion: v1\n"
            "kind: Config\n"
            "clusters:\n"
            "- name: deploycheck\n"
            "  cluster:\n"
            f"    server: {json.dumps(self.server)}\n"
            f"    certificate-authority: {json.dumps(str(wd / 'ca.crt'))}\n"
            "users:\n"
            "- name: deploycheck-admin\n"
            "  user:\n"
            f"    client-certificate: {json.dumps(str(wd / 'admin.crt'))}\n"
            f"    client-key: {json.dumps(str(wd / 'admin.key'))}\n"
            "contexts:\n"
            "- name: deploycheck\n"
            "  context:\n"
            "    cluster: deploycheck\n"
            "    user: deploycheck-admin\n"
            "    namespace: default\n"
            "current-context: deploycheck\n"
        )

    def _node_manifest(self, name: str) -> dict[str, Any]:
        key, value = KWOK_NODE_ANNOTATION
        resources = {"cpu": "32", "memory": "256Gi", "pods": "110"}
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "annotations": {key: value, "node.alpha.kubernetes.io/ttl": "0"},
                "labels": {
                    "kubernetes.io/arch": "amd64",
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/hostname": name,
                    "kubernetes.io/role": "agent",
                    "node-role.kubernetes.io/agent": "",
                    "type": "kwok",
                },
            },
            "spec": {},
            "status": {
                "allocatable": resources,
                "capacity": resources,
                "nodeInfo": {
                    "architecture": "amd64",
                    "operatingSystem": "linux",
                    "kubeletVersion": "fake",
                    "kubeProxyVersion": "fake",
                },
            },
        }

    def _spawn(self, name: str, cmd: list[str]) -> None:
        with open(self.log_path(name), "wb") as log:
            log.write(("$ " + " ".join(cmd) + "\n").encode())
            log.flush()
            self._procs[name] = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                start_new_session=True,
                # SIGKILL when the parent (strictly: the thread that started it) dies: no apiserver left behind.
                preexec_fn=die_with_parent(signal.SIGKILL),
            )

    def _wait(self, what: str, deadline: float, ready: Callable[[], bool], log: str | None = None) -> None:
        """Poll ``ready`` until true; fail early if a process exits, or at the
        deadline, with the tail of the relevant log."""
        delay = 0.05
        while True:
            for name, proc in self._procs.items():
                if proc.poll() is not None:
                    raise ControlPlaneError(
                        f"{name} exited with {proc.returncode} while waiting for {what}; "
                        f"tail of {self.log_path(name)}:\n{_tail(self.log_path(name))}"
                    )
            try:
                if ready():
                    return
            except (OSError, ValueError, ControlPlaneError):
                pass
            if time.monotonic() > deadline:
                name = log or what
                detail = ""
                if self.workdir is not None and self.log_path(name).exists():
                    detail = f"; tail of {self.log_path(name)}:\n{_tail(self.log_path(name))}"
                raise ControlPlaneError(f"timed out waiting for {what}{detail}")
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)

    def _http_ok(self, url: str) -> bool:
        ctx = self._ssl if url.startswith("https:") else None
        try:
            with urllib.request.urlopen(url, timeout=2, context=ctx) as resp:
                return resp.status == 200
        except urllib.error.URLError:
            return False

    def _api(self, method: str, path: str, body: Any = None) -> Any:
        """A JSON request to the apiserver as admin."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"{self.server}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=10, context=self._ssl) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise ControlPlaneError(
                f"{method} {path}: HTTP {exc.code}: {exc.read().decode(errors='replace')}"
            ) from None

    def _exists(self, path: str) -> bool:
        try:
            self._api("GET", path)
            return True
        except ControlPlaneError:
            return False

    def _nodes_ready(self) -> bool:
        items = self._api("GET", "/api/v1/nodes")["items"]
        ready = set()
        for node in items:
            conds = {c["type"]: c["status"] for c in node.get("status", {}).get("conditions", [])}
            taints = node.get("spec", {}).get("taints") or []
            if conds.get("Ready") == "True" and not taints:
                ready.add(node["metadata"]["name"])
        return set(self.nodes) <= ready


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tools.k8s.cluster``: start a cluster, print how to use it,
    and keep it up until Ctrl-C (or ``--check`` to start, report and stop)."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--check", action="store_true", help="start, report, stop")
    parser.add_argument("--nodes", type=int, default=3)
    args = parser.parse_args(argv)
    ok, reason = ControlPlane.available()
    if not ok:
        print(f"not available: {reason}", file=sys.stderr)
        return 1
    cp = ControlPlane(nodes=args.nodes, log=print)
    try:
        cp.start()
        print("timings (s, cumulative):", json.dumps(cp.timings))
        print(cp.kubectl("get", "nodes", "-o", "wide").stdout)
        if args.check:
            return 0
        print(f"export KUBECONFIG={cp.kubeconfig} PATH={cp.bin_dir}:$PATH")
        print("Ctrl-C to stop")
        while cp.running:
            time.sleep(1)
        print("a process exited; logs in", cp.workdir and cp.workdir / "logs")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        t = time.monotonic()
        cp.stop()
        print(f"stopped in {time.monotonic() - t:.1f}s")


if __name__ == "__main__":
    sys.exit(main())
