"""Evidence at scale: GET /health and GET /version of N demo services (each answering in 50 ms), all at once.

For each size it starts `python -m demo` serving N services, then times each row ROUNDS times, rows interleaved
within a round so that every row sees the same noisy machine, and prints medians with the ratio to the floor:

    floor       a minimal client: raw asyncio streams, HTTP/1.1, Connection: close, read to EOF, all at once
    fetch_all   deploycheck.kinds.http.session.fetch_all (one HttpSession, every request at once)
    evidence    deploycheck.evidence.store.EvidenceStore.prefetch: the whole evidence layer a run uses (plan the
                health and version probes of every service from a loaded environment, gather them in one loop)

Goal (issue 6): each row within 3x the floor at 50 and 200 services. A row is a function taking the services' base
URLs and returning the seconds it took to gather every answer; it raises if any answer is not a 200, so a row that
fails fast never looks fast. To add one (the whole evidence layer, say), put it in ROWS.

    python bench/evidence_at_scale.py [--sizes 50,200] [--latency-ms 50] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from deploycheck import demo  # noqa: E402
from deploycheck.config.loader import Demo, load_environment  # noqa: E402
from deploycheck.evidence.probe import GatherSettings  # noqa: E402
from deploycheck.evidence.store import EvidenceStore  # noqa: E402
from deploycheck.kinds.http.session import HttpRequest, fetch_all  # noqa: E402

PATHS = ("/health", "/version")
TIMEOUT_S = 30.0

Row = Callable[[list[str]], float]  # service base URLs -> seconds to gather every answer


# ---------------------------------------------------------------------------------------------------------------
# The floor: the least any client has to do


def floor(urls: list[str]) -> float:
    started = time.perf_counter()
    statuses = asyncio.run(_raw_all(urls))
    elapsed = time.perf_counter() - started
    _require_ok(statuses)
    return elapsed


async def _raw_all(urls: list[str]) -> list[int]:
    return list(await asyncio.gather(*(_raw_get(url, path) for url in urls for path in PATHS)))


async def _raw_get(url: str, path: str) -> int:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
    answer = await reader.read()  # to EOF
    writer.close()
    await writer.wait_closed()
    return int(answer.split(b" ", 2)[1])


# ---------------------------------------------------------------------------------------------------------------
# deploycheck's rows


def probes_fetch_all(urls: list[str]) -> float:
    requests = [HttpRequest("GET", url + path, TIMEOUT_S) for url in urls for path in PATHS]
    started = time.perf_counter()
    evidence = fetch_all(requests)
    elapsed = time.perf_counter() - started
    _require_ok([e.value.status if e.value is not None else e.error for e in evidence])
    return elapsed


def evidence_store(urls: list[str]) -> float:
    with tempfile.TemporaryDirectory() as directory:
        services = {f"svc-{index:03d}": {"url": url} for index, url in enumerate(urls)}
        document = {
            "environment": "bench",
            "defaults": {"timeout": f"{TIMEOUT_S:g}s", "health": {"path": "/health"}, "version": {"path": "/version"}},
            "services": services,
        }
        (Path(directory) / "bench.yaml").write_text(json.dumps(document))  # JSON is YAML
        environment = load_environment(Path(directory), "bench", environ={})
    store = EvidenceStore(environment, GatherSettings())
    keys = [(name, probe) for name in services for probe in ("health", "version")]
    started = time.perf_counter()
    store.prefetch(keys)
    elapsed = time.perf_counter() - started
    evidence = [store.get(*key) for key in keys]
    _require_ok([e.value.status if e.value is not None else e.error for e in evidence])
    return elapsed


ROWS: dict[str, Row] = {"floor": floor, "fetch_all": probes_fetch_all, "evidence": evidence_store}


def _require_ok(answers: Sequence[object]) -> None:
    failed = [answer for answer in answers if answer != 200]
    if failed:
        raise SystemExit(f"{len(failed)} of {len(answers)} answers were not 200, e.g. {failed[0]!r}")


# ---------------------------------------------------------------------------------------------------------------


def measure(urls: list[str], repeat: int) -> dict[str, float]:
    """Median seconds per row; one warm-up round first (imports, SSL contexts, the demo's first requests)."""
    for row in ROWS.values():
        row(urls)
    timings: dict[str, list[float]] = {name: [] for name in ROWS}
    for _ in range(repeat):
        for name, row in ROWS.items():
            timings[name].append(row(urls))
    return {name: statistics.median(values) for name, values in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="50,200")
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()

    print(f"{'services':>8} {'requests':>8}  {'row':<12} {'median':>8} {'/ floor':>8}")
    for size in (int(value) for value in options.sizes.split(",")):
        names = tuple(f"svc-{index:03d}" for index in range(1, size + 1))
        running = demo.start(Demo(services=names, latency_ms=options.latency_ms))
        try:
            urls = [running.urls[name] for name in names]
            medians = measure(urls, options.repeat)
        finally:
            running.stop()
        for name, seconds in medians.items():
            ratio = seconds / medians["floor"]
            print(f"{size:>8} {size * len(PATHS):>8}  {name:<12} {seconds:>7.3f}s {ratio:>7.1f}x", flush=True)


if __name__ == "__main__":
    main()
