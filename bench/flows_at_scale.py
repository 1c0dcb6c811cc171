"""What the key user flows add to the time to verdict, for 50 demo services whose every answer takes 50 ms.

Each service runs the four guide flows of `smoke/test_flows.py` (log in, create an order, process a payment,
generate a report: 17 requests, and a login per service). The rows:

- floor: a minimal program (asyncio streams, a few lines of HTTP/1.1) sending the same requests, every flow at
  once, each flow's requests one after another, as the flows must;
- the real suite on the flows alone (`pytest smoke/`, pytest start-up included): flows run all at once
  (the default), one after another (DEPLOYCHECK_PREFETCH=0, run once: it is slow), and with -n 2;
- the real suite on the generic checks alone (`pytest checks/`), then on checks and flows: the difference is what
  the flows add to the time to verdict.

    python bench/flows_at_scale.py [--services 50] [--latency-ms 50] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from deploycheck import demo  # noqa: E402
from deploycheck.config.loader import Demo  # noqa: E402

FLOWS = ("login", "create_order", "process_payment", "generate_report")
ACCOUNT = {"username": "smoke", "password": "local-smoke-password"}  # the demo's smoke account


def environment_file(directory: Path, urls: dict[str, str]) -> None:
    account = f"{{username: {ACCOUNT['username']}, password: {ACCOUNT['password']}}}"
    lines = [
        "environment: bench",
        "allow_mutating_flows: true",
        "defaults:",
        "  timeout: 10s",
        "  health: {path: /health, expect: {status: healthy}}",
        "  ready: {path: /ready}",
        "  version: {path: /version, field: version}",
        f"  flows: [{', '.join(FLOWS)}]",
        "  flow_options: {" + ", ".join(f"{flow}: {account}" for flow in FLOWS) + "}",
        "services:",
    ]
    lines += [f"  {name}: {{url: '{url}'}}" for name, url in urls.items()]
    (directory / "bench.yaml").write_text("\n".join(lines) + "\n")


# --------------------------------------------------------------------------------------------------------------
# the floor


class Connection:
    """One keep-alive HTTP/1.1 connection: just enough for the demo's answers (Content-Length, or none for 204)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def send(self, method: str, path: str, body: Any = None, token: str = "", form: bool = False) -> Any:
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.streams
        payload = (urlencode(body) if form else json.dumps(body)).encode() if body is not None else b""
        kind = "application/x-www-form-urlencoded" if form else "application/json"
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Length: {len(payload)}\r\n"
        head += f"Content-Type: {kind}\r\n" + (f"Authorization: Bearer {token}\r\n" if token else "")
        if method == "POST" and path == "/v1/payments":
            head += f"Idempotency-Key: floor-{body['order_id']}\r\n"
        writer.write((head + "\r\n").encode() + payload)
        status_and_headers = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
        _, found, rest = status_and_headers.partition("content-length:")
        length = int(rest.split("\r\n", 1)[0]) if found else 0  # a 204 has none
        data = await reader.readexactly(length)
        return json.loads(data) if data else None

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()


async def floor_flows(url: str) -> None:
    """The requests of one service's four flows: a login, then the flows at once."""
    connection = Connection(url)
    token = (await connection.send("POST", "/v1/auth/token", ACCOUNT, form=True))["access_token"]
    connection.close()

    async def flow(name: str) -> None:
        c = Connection(url)
        if name == "login":
            own = (await c.send("POST", "/v1/auth/token", ACCOUNT, form=True))["access_token"]
            await c.send("GET", "/v1/auth/me", token=own)
            return c.close()
        order = {"items": [{"sku": "SMOKE-TEST", "qty": 1, "price": 1.0}], "reference": f"floor-{name}"}
        order_id = (await c.send("POST", "/v1/orders", order, token))["id"]
        if name == "create_order":
            await c.send("GET", f"/v1/orders/{order_id}", token=token)
        elif name == "process_payment":
            payment = await c.send("POST", "/v1/payments", {"order_id": order_id, "amount": 1.0}, token)
            await c.send("GET", f"/v1/payments/{payment['id']}", token=token)
            await c.send("DELETE", f"/v1/payments/{payment['id']}", token=token)
        else:
            report = await c.send("POST", "/v1/reports", {"kind": "orders", "reference": f"floor-{name}"}, token)
            while (await c.send("GET", f"/v1/reports/{report['id']}", token=token))["status"] != "done":
                await asyncio.sleep(0.05)  # the suite's poll interval
            await c.send("DELETE", f"/v1/reports/{report['id']}", token=token)
        await c.send("DELETE", f"/v1/orders/{order_id}", token=token)
        c.close()

    await asyncio.gather(*(flow(name) for name in FLOWS))


def floor(urls: dict[str, str]) -> float:
    async def everything() -> None:
        await asyncio.gather(*(floor_flows(url) for url in urls.values()))

    started = time.perf_counter()
    asyncio.run(everything())
    return time.perf_counter() - started


# --------------------------------------------------------------------------------------------------------------
# the suite


def run_suite(directory: Path, paths: list[str], extra: list[str], env: dict[str, str]) -> float:
    verdict = directory / "verdict.json"
    command = [
        *(sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "--env", "bench"),
        *("--environments-dir", str(directory), "--verdict-file", str(verdict)),
        *("--summary-file", str(directory / "summary.md"), "--expected-version", "v2.3.1"),
        *extra,
        *(str(REPO / path) for path in paths),
    ]
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if completed.returncode != 0:
        print(completed.stdout[-3000:], file=sys.stderr)
        raise SystemExit(f"the suite did not pass: pytest {' '.join(extra + paths)}")
    document = json.loads(verdict.read_text())
    flows = [f for body in document["services"].values() for f in body["findings"] if f["check"].startswith("flows.")]
    if "smoke" in paths:
        assert len(flows) == 4 * len(document["services"]) and all(f["outcome"] == "passed" for f in flows)
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--services", type=int, default=50)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    names = [f"svc-{index:02d}" for index in range(options.services)]
    running = demo.start(Demo(services=tuple(names), latency_ms=options.latency_ms))
    environ = dict(os.environ)
    rows: dict[str, tuple[list[str], list[str], dict[str, str], int]] = {
        "flows: pytest smoke/ (all at once, default)": (["smoke"], [], environ, options.repeat),
        "flows: pytest smoke/ -n 2": (["smoke"], ["-n", "2"], environ, options.repeat),
        "flows: pytest smoke/ (one after another)": (["smoke"], [], {**environ, "DEPLOYCHECK_PREFETCH": "0"}, 1),
        "checks: pytest checks/": (["checks"], [], environ, options.repeat),
        "checks and flows: pytest checks/ smoke/": (["checks", "smoke"], [], environ, options.repeat),
    }
    try:
        with tempfile.TemporaryDirectory() as temporary:
            directory = Path(temporary)
            environment_file(directory, running.urls)
            floor(running.urls)  # warm: the demo's first connections
            base = statistics.median(floor(running.urls) for _ in range(max(options.repeat, 5)))
            print(
                f"{options.services} services, 4 flows each (17 requests + 1 login per service), answers in "
                f"{options.latency_ms} ms; medians of {options.repeat} (one after another: 1 run)"
            )
            print(f"{'row':<46} {'time':>8} {'/ floor':>8}")
            print(f"{'floor: minimal asyncio client, flows at once':<46} {base:>7.2f}s {1.0:>7.1f}x", flush=True)
            walls: dict[str, float] = {}
            for label, (paths, extra, env, repeat) in rows.items():
                walls[label] = statistics.median(run_suite(directory, paths, extra, env) for _ in range(repeat))
                print(f"{label:<46} {walls[label]:>7.2f}s {walls[label] / base:>7.1f}x", flush=True)
            added = walls["checks and flows: pytest checks/ smoke/"] - walls["checks: pytest checks/"]
            print(f"{'what the flows add to the time to verdict':<46} {added:>7.2f}s {added / base:>7.1f}x")
    finally:
        running.stop()


if __name__ == "__main__":
    main()
