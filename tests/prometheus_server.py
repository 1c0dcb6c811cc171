"""A real Prometheus (and Alertmanager) on loopback, as pytest fixtures (issue 9: a real Prometheus, nothing mocked).

Use them from a test module with `pytest_plugins = ["tests.prometheus_server"]` (PYTEST_DONT_REWRITE: the module
may be imported too, for `launching` and the dataclasses). Each server runs on 127.0.0.1 with a free port, with its
own configuration and data in a temporary directory, is ready (its /-/ready says so) when the fixture hands it over,
and is stopped when the test ends:

    prometheus_factory      start(targets, rules=None, scrape_interval="1s", evaluation_interval="1s",
                                  target_labels=None, alertmanager=None, basic_auth=None, tls=None)
                            -> PrometheusServer scraping each target's /metrics with the label service="<name>"
    backfilled_prometheus   start(openmetrics, rules=None, ...) -> PrometheusServer on a TSDB that
                            `promtool tsdb create-blocks-from openmetrics` built from that history
    alertmanager_factory    start() -> AlertmanagerServer; give its `url` to prometheus_factory(alertmanager=...)

`PrometheusServer.wait_for(query, predicate, timeout_s)` polls an instant query until its result satisfies the
predicate. The binaries are Debian's `prometheus`, `promtool` and `prometheus-alertmanager`; when one is missing the
test is skipped with the reason, unless DEPLOYCHECK_REQUIRE_PROMETHEUS=1 (CI installs them), which fails it instead.
No process outlives the test: each is stopped at teardown (SIGTERM, then SIGKILL), and on Linux it is also told to
die with the test process should that be killed before its teardown.
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploycheck.children import die_with_parent, stop
from tests.processes import free_port, log_tail, unavailable

PYTEST_DONT_REWRITE = True
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
REQUIRE_VARIABLE = "DEPLOYCHECK_REQUIRE_PROMETHEUS"

# basic_auth users of the web configuration hold bcrypt hashes; this is "s3cret-pass" at cost 4 (fast to check).
BASIC_USER, BASIC_PASSWORD = "deploy", "s3cret-pass"
BASIC_HASH = "$2b$04$bBRioZhO9UAabmUjLW4bdOToJGvT9e4tYxisV69fI8edjXDPsNKEi"


# ---------------------------------------------------------------------------------------------------------------
# The servers


@dataclass(frozen=True)
class ServerTls:
    """Serve HTTPS with this certificate chain and key (`tests.hostile_servers.TlsFiles` has them)."""

    cert_file: str
    key_file: str
    ca_file: str  # what a client trusts to trust the server


@dataclass
class _Process:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after STOP_TIMEOUT_S; returns once the process is gone."""
        stop(self.process, signal.SIGTERM, STOP_TIMEOUT_S)

    def log_tail(self, lines: int = 15) -> str:
        return log_tail(self.log, lines)


@dataclass
class PrometheusServer:
    url: str
    directory: Path  # configuration, rules, data and log
    _process: _Process
    basic_auth: tuple[str, str] | None = None
    ca_file: str | None = None

    def stop(self) -> None:
        self._process.stop()

    def query(self, query: str, at: float | None = None) -> Any:
        """data.result of an instant query (the test's own reading, independent of the code under test)."""
        params = {"query": query, **({"time": repr(at)} if at is not None else {})}
        body = _get(f"{self.url}/api/v1/query?{urllib.parse.urlencode(params)}", self.basic_auth, self.ca_file)
        return json.loads(body)["data"]["result"]

    def wait_for(self, query: str, predicate: Callable[[Any], bool] = bool, timeout_s: float = 30.0) -> Any:
        """Poll `query` until `predicate(result)` holds; returns that result, or fails with the last one seen."""
        deadline = time.monotonic() + timeout_s
        last: Any = "no answer yet"
        while True:
            try:
                last = self.query(query)
                if predicate(last):
                    return last
            except (OSError, ValueError, KeyError) as exc:  # not ready, or an error answer: keep polling
                last = f"{type(exc).__name__}: {exc}"
            if time.monotonic() > deadline:
                raise AssertionError(f"{query!r} did not reach the expected result within {timeout_s:g}s: {last}")
            time.sleep(0.2)


@dataclass
class AlertmanagerServer:
    url: str
    directory: Path
    _process: _Process

    def stop(self) -> None:
        self._process.stop()

    def alerts(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = json.loads(_get(f"{self.url}/api/v2/alerts", None, None))
        return result

    def silence(self, alertname: str, minutes: int = 30) -> None:
        """Silence every alert called `alertname` (Alertmanager's own API, as an operator would)."""
        now = time.time()
        silence = {
            "matchers": [{"name": "alertname", "value": alertname, "isRegex": False, "isEqual": True}],
            "startsAt": _rfc3339(now - 60),
            "endsAt": _rfc3339(now + minutes * 60),
            "createdBy": "deploycheck tests",
            "comment": "silenced by a test",
        }
        request = urllib.request.Request(
            f"{self.url}/api/v2/silences",
            data=json.dumps(silence).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()


# ---------------------------------------------------------------------------------------------------------------
# Starting them


class Launcher:
    """Starts servers in `directory` and stops every one of them at `close()`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._started: list[_Process] = []
        self._count = 0

    def close(self) -> None:
        for process in reversed(self._started):
            process.stop()
        self._started.clear()

    def prometheus(
        self,
        targets: Mapping[str, str],
        rules: str | None = None,
        scrape_interval: str = "1s",
        evaluation_interval: str = "1s",
        target_labels: Mapping[str, Mapping[str, str]] | None = None,
        alertmanager: str | None = None,
        basic_auth: bool = False,
        tls: ServerTls | None = None,
    ) -> PrometheusServer:
        """Prometheus scraping each target (name -> base URL) at <base URL>/metrics, with service="<name>" and
        `target_labels[name]` as labels; `basic_auth` requires BASIC_USER / BASIC_PASSWORD, `tls` serves HTTPS."""
        directory = self._fresh("prometheus")
        config = _prometheus_config(targets, scrape_interval, evaluation_interval, target_labels or {})
        return self._start_prometheus(directory, config, rules, alertmanager, basic_auth, tls)

    def backfilled(
        self,
        openmetrics: str,
        rules: str | None = None,
        evaluation_interval: str = "1s",
        alertmanager: str | None = None,
    ) -> PrometheusServer:
        """Prometheus on a TSDB built from `openmetrics` (OpenMetrics text with timestamps, ending in `# EOF`)."""
        promtool = require("promtool", package="prometheus")
        directory = self._fresh("backfilled")
        history = directory / "history.om"
        history.write_text(openmetrics if openmetrics.rstrip().endswith("# EOF") else openmetrics + "# EOF\n")
        built = subprocess.run(
            [promtool, "tsdb", "create-blocks-from", "openmetrics", str(history), str(directory / "data")],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if built.returncode != 0:
            raise RuntimeError(f"promtool could not build the history: {(built.stderr or built.stdout).strip()}")
        config = _prometheus_config({}, "1m", evaluation_interval, {})
        return self._start_prometheus(directory, config, rules, alertmanager, False, None)

    def alertmanager(self) -> AlertmanagerServer:
        """Alertmanager on loopback, clustering off, one receiver that sends nowhere."""
        binary = require("prometheus-alertmanager", "alertmanager", package="prometheus-alertmanager")
        directory = self._fresh("alertmanager")
        config = {"route": {"receiver": "nowhere", "group_wait": "0s"}, "receivers": [{"name": "nowhere"}]}
        (directory / "alertmanager.yml").write_text(yaml.safe_dump(config))
        port = free_port()
        process = self._spawn(
            "alertmanager",
            [
                binary,
                f"--config.file={directory / 'alertmanager.yml'}",
                f"--storage.path={directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",  # no gossip port on every interface
            ],
            directory,
        )
        url = f"http://127.0.0.1:{port}"
        _wait_ready(process, url, None, None)
        return AlertmanagerServer(url, directory, process)

    def _start_prometheus(
        self,
        directory: Path,
        config: dict[str, Any],
        rules: str | None,
        alertmanager: str | None,
        basic_auth: bool,
        tls: ServerTls | None,
    ) -> PrometheusServer:
        binary = require("prometheus", package="prometheus")
        if rules is not None:
            (directory / "rules.yml").write_text(rules)
            config["rule_files"] = [str(directory / "rules.yml")]
        if alertmanager is not None:
            address = urllib.parse.urlsplit(alertmanager).netloc
            config["alerting"] = {"alertmanagers": [{"api_version": "v2", "static_configs": [{"targets": [address]}]}]}
        (directory / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
        port = free_port()
        arguments = [
            binary,
            f"--config.file={directory / 'prometheus.yml'}",
            f"--storage.tsdb.path={directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--rules.alert.resend-delay=1s",  # else an alert that fired before Alertmanager was known waits 1m
        ]
        web = _web_config(basic_auth, tls)
        if web:
            (directory / "web.yml").write_text(yaml.safe_dump(web))
            arguments.append(f"--web.config.file={directory / 'web.yml'}")
        process = self._spawn("prometheus", arguments, directory)
        url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
        credentials = (BASIC_USER, BASIC_PASSWORD) if basic_auth else None
        ca_file = tls.ca_file if tls else None
        _wait_ready(process, url, credentials, ca_file)
        return PrometheusServer(url, directory, process, credentials, ca_file)

    def _fresh(self, name: str) -> Path:
        self._count += 1
        directory = self.directory / f"{name}-{self._count}"
        directory.mkdir(parents=True)
        return directory

    def _spawn(self, name: str, arguments: list[str], directory: Path) -> _Process:
        log = directory / f"{name}.log"
        with open(log, "wb") as output:
            popen = subprocess.Popen(
                arguments,
                cwd=directory,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent(signal.SIGTERM),
            )
        process = _Process(name, popen, log)
        self._started.append(process)
        return process


@contextlib.contextmanager
def launching(directory: Path) -> Iterator[Launcher]:
    """A Launcher whose servers are all stopped when the block ends (for fixtures of a wider scope)."""
    launcher = Launcher(directory)
    try:
        yield launcher
    finally:
        launcher.close()


def require(*names: str, package: str) -> str:
    """The path of the first of these commands that is installed; else skip (or fail, when CI requires it)."""
    for name in names:
        path = shutil.which(name)
        if path is not None:
            return path
    reason = f"{names[0]} is not installed (apt-get install {package})"
    unavailable(reason, REQUIRE_VARIABLE)


def _prometheus_config(
    targets: Mapping[str, str],
    scrape_interval: str,
    evaluation_interval: str,
    target_labels: Mapping[str, Mapping[str, str]],
) -> dict[str, Any]:
    return {
        "global": {
            "scrape_interval": scrape_interval,
            "scrape_timeout": scrape_interval,  # the default, 10s, may not exceed the interval
            "evaluation_interval": evaluation_interval,
        },
        "scrape_configs": [_scrape_config(name, url, target_labels.get(name, {})) for name, url in targets.items()],
    }


def _scrape_config(name: str, base_url: str, labels: Mapping[str, str]) -> dict[str, Any]:
    url = urllib.parse.urlsplit(base_url)
    return {
        "job_name": name,
        "scheme": url.scheme or "http",
        "metrics_path": url.path.rstrip("/") + "/metrics",
        # The demo labels its own series service="<name>" already; honouring it keeps that label as it is
        # (not renamed exported_service), while `up` and any unlabelled series get the target's.
        "honor_labels": True,
        "static_configs": [{"targets": [url.netloc], "labels": {"service": name, **labels}}],
    }


def _web_config(basic_auth: bool, tls: ServerTls | None) -> dict[str, Any]:
    web: dict[str, Any] = {}
    if basic_auth:
        web["basic_auth_users"] = {BASIC_USER: BASIC_HASH}
    if tls is not None:
        web["tls_server_config"] = {"cert_file": tls.cert_file, "key_file": tls.key_file}
    return web


def _wait_ready(process: _Process, url: str, credentials: tuple[str, str] | None, ca_file: str | None) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.process.poll() is not None:
            raise RuntimeError(f"{process.name} exited with {process.process.returncode}:\n{process.log_tail()}")
        with contextlib.suppress(OSError):
            _get(f"{url}/-/ready", credentials, ca_file, timeout_s=1.0)
            return
        time.sleep(0.1)
    process.stop()
    raise RuntimeError(f"{process.name} was not ready within {READY_TIMEOUT_S:g}s:\n{process.log_tail()}")


def _get(url: str, credentials: tuple[str, str] | None, ca_file: str | None, timeout_s: float = 10.0) -> bytes:
    """GET with urllib (raises OSError, urllib.error.HTTPError included, unless 200)."""
    headers = {}
    if credentials is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(credentials).encode()).decode()
    context = ssl.create_default_context(cafile=ca_file) if ca_file else None
    # No proxy: the servers are on loopback, whatever HTTP_PROXY says.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context))
    with opener.open(urllib.request.Request(url, headers=headers), timeout=timeout_s) as response:
        body: bytes = response.read()
        return body


def _rfc3339(moment: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))


# ---------------------------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture
def prometheus_launcher(tmp_path: Path) -> Iterator[Launcher]:
    with launching(tmp_path / "servers") as launcher:
        yield launcher


@pytest.fixture
def prometheus_factory(prometheus_launcher: Launcher) -> Callable[..., PrometheusServer]:
    """start(targets: {name: base URL}, rules=None, scrape_interval="1s", evaluation_interval="1s",
    target_labels=None, alertmanager=None, basic_auth=False, tls=None) -> PrometheusServer."""
    return prometheus_launcher.prometheus


@pytest.fixture
def backfilled_prometheus(prometheus_launcher: Launcher) -> Callable[..., PrometheusServer]:
    """start(openmetrics: str, rules=None, evaluation_interval="1s", alertmanager=None) -> PrometheusServer."""
    return prometheus_launcher.backfilled


@pytest.fixture
def alertmanager_factory(prometheus_launcher: Launcher) -> Callable[[], AlertmanagerServer]:
    """start() -> AlertmanagerServer; pass its url to prometheus_factory(..., alertmanager=url)."""
    return prometheus_launcher.alertmanager


# ---------------------------------------------------------------------------------------------------------------
# History, for backfilling

HISTORY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5)


def traffic_history(
    service: str,
    deployed_at: float,
    start: float,
    end: float,
    latency_s: tuple[float, float] = (0.05, 0.25),
    errors_per_step: tuple[int, int] = (0, 0),
    step: int = 15,
    requests_per_step: int = 10,
) -> str:
    """OpenMetrics of one service's traffic from `start` to `end`: the latency histogram and the request counter
    (labelled by status), every request taking latency_s[0] before the deploy and latency_s[1] after, with
    errors_per_step of each step's requests answered 500 (before, after)."""
    labels = f'service="{service}",route="/v1/items",method="GET"'
    bounds = (*map(str, HISTORY_BUCKETS), "+Inf")
    histogram, counter = ["# TYPE http_request_duration_seconds histogram"], ["# TYPE http_requests counter"]
    counts = [0] * len(bounds)
    requests = {"200": 0, "500": 0}
    seconds = 0.0
    for at in range(int(start), int(end), step):
        after = at >= deployed_at
        latency, errors = latency_s[after], errors_per_step[after]
        counts = [
            count + (requests_per_step if latency <= float(bound) else 0)
            for count, bound in zip(counts, bounds, strict=True)
        ]
        requests = {"200": requests["200"] + requests_per_step - errors, "500": requests["500"] + errors}
        seconds += requests_per_step * latency
        for bound, count in zip(bounds, counts, strict=True):
            histogram.append(f'http_request_duration_seconds_bucket{{{labels},le="{bound}"}} {count} {at}')
        histogram.append(f"http_request_duration_seconds_count{{{labels}}} {sum(requests.values())} {at}")
        histogram.append(f"http_request_duration_seconds_sum{{{labels}}} {seconds} {at}")
        counter += [f'http_requests_total{{{labels},status="{code}"}} {n} {at}' for code, n in requests.items()]
    return "\n".join(histogram + counter) + "\n# EOF\n"
