"""How fast `python -m deploycheck serve` answers: the first request for a target (a whole run of the suite, as a
subprocess), the same target again while its verdict is cached, and N concurrent requests for a fresh target,
which must share one run (so they take about one run's time, not N).

    python bench/serve_answers.py [--concurrent 8] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from deploycheck import demo  # noqa: E402
from deploycheck.config.loader import Demo  # noqa: E402

TOKEN = "bench-token"


def environment(directory: Path, urls: dict[str, str]) -> None:
    lines = [
        "environment: bench",
        "defaults:",
        "  timeout: 5s",
        "  health: {path: /health, expect: {status: healthy}}",
        "  ready: {path: /ready}",
        "  version: {path: /version, field: version}",
        "services:",
        *[f"  {name}: {{url: '{url}'}}" for name, url in urls.items()],
    ]
    (directory / "bench.yaml").write_text("\n".join(lines) + "\n")


def timed(get: httpx.Client, url: str, service: str) -> tuple[float, str]:
    started = time.perf_counter()
    answer = get.get(f"{url}/argo", params={"env": "bench", "service": service}, timeout=120)
    answer.raise_for_status()
    return time.perf_counter() - started, answer.json()["verdict"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--concurrent", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    services = [f"svc-{i}" for i in range(options.repeat * 2)]
    running = demo.start(Demo(services=tuple(services)))
    with tempfile.TemporaryDirectory() as scratch:
        environment(Path(scratch), running.urls)
        command = [sys.executable, "-m", "deploycheck", "serve", "--port", "0", "--project", str(REPO),
                   "--environments-dir", scratch, "--answer-within", "120s", "--cache-for", "10m"]  # fmt: skip
        server = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env={**os.environ, "DEPLOYCHECK_SERVE_TOKEN": TOKEN},
        )  # fmt: skip
        try:
            assert server.stdout is not None
            url = json.loads(server.stdout.readline())["listening"]
            client = httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"})
            first, cached, shared = [], [], []
            for round_ in range(options.repeat):
                service, fresh = services[2 * round_], services[2 * round_ + 1]
                first.append(timed(client, url, service)[0])
                cached.append(timed(client, url, service)[0])
                started = time.perf_counter()
                with ThreadPoolExecutor(options.concurrent) as pool:
                    verdicts = [
                        v for _, v in pool.map(lambda name: timed(client, url, name), [fresh] * options.concurrent)
                    ]
                shared.append(time.perf_counter() - started)
                assert set(verdicts) == {"PASS"}, verdicts
        finally:
            server.terminate()
            server.wait(10)
            running.stop()
    print(f"deploycheck serve, Argo /argo answers (median of {options.repeat}; one service, health/ready/version):")
    print(f"  first request (runs the suite):          {statistics.median(first) * 1000:8.0f} ms")
    print(f"  same target again (cached verdict):      {statistics.median(cached) * 1000:8.1f} ms")
    print(f"  {options.concurrent} concurrent requests, fresh target:     {statistics.median(shared) * 1000:8.0f} ms "
          f"(one run shared; {options.concurrent} runs would take ~{options.concurrent}x the first)")  # fmt: skip


if __name__ == "__main__":
    main()
