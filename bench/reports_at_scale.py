"""What the reports cost, for a verdict of many services: building each report from the verdict document, the
Allure attachments of every finding, and a webhook that never answers (bounded by its timeout).

    python bench/reports_at_scale.py [--services 200] [--checks 20] [--repeat 5]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from deploycheck.findings import Finding, Outcome
from deploycheck.reports import allure_files, evidence, notifications, summary, textfile
from deploycheck.verdict import RunReport

SOURCES = [
    {"kind": "http", "method": "GET", "url": "http://svc:8080/health", "timeout_s": 5.0, "headers": ["X-Key"]},
    {"kind": "prometheus", "queries": {"p95": {"query": "histogram_quantile(0.95, sum by (le) (rate(x[5m])))"}}},
    {"kind": "scrape", "url": "http://svc:8080/metrics", "metric": {"requests": "http_requests_total{}"}},
    {"kind": "kubernetes", "object": "Deployment shop/svc", "ready": "3/3"},
]


def document(services: int, checks: int) -> dict[str, Any]:
    outcomes = [Outcome.PASSED] * 8 + [Outcome.FAILED, Outcome.INCONCLUSIVE]
    findings = {
        f"service-{s}": [
            Finding(
                outcomes[(s + c) % len(outcomes)],
                f"check {c} of service {s}: observed {c * 10} ms, limit 200 ms",
                observed=c * 10,
                limit=200,
                unit="ms",
                source=SOURCES[c % len(SOURCES)],
                check=f"kind{c % 5}.check{c}",
                service=f"service-{s}",
            )
            for c in range(checks)
        ]
        for s in range(services)
    }
    start = datetime.now(UTC)
    return RunReport("production", "v2.3.1", start, start, findings).to_json()


def timed(function: Callable[[], Any], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs) * 1000


def hanging_webhook(timeout_s: float) -> float:
    """A server that accepts and never answers: the webhook costs its timeout, not more."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        url = f"http://127.0.0.1:{server.getsockname()[1]}/hook"
        started = time.perf_counter()
        (record,) = notifications.send([("webhooks[0]", "json", url, {}, timeout_s)], [{"verdict": "FAIL"}])
        elapsed = time.perf_counter() - started
        assert not record["sent"], record
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=200)
    parser.add_argument("--checks", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    doc = document(options.services, options.checks)
    everything = [f for body in doc["services"].values() for f in body["findings"]]
    size = f"{options.services} services x {options.checks} checks: {len(everything)} findings"
    print(f"{size}; median of {options.repeat} runs")
    rows = {
        "summary.md": lambda: summary.render(doc),
        "deploycheck.prom": lambda: textfile.render(doc),
        "environment.properties": lambda: allure_files.environment_properties(doc, {"Services": "..."}),
        "webhook bodies (json + slack)": lambda: (
            notifications.json_body(doc, None),
            notifications.slack_body(doc, None),
        ),
        "Allure attachments, every finding": lambda: [evidence.attachments(f) for f in everything],
    }
    for name, function in rows.items():
        print(f"  {name:<36} {timed(function, options.repeat):9.1f} ms")
    print(f"  {'webhook that never answers (1s)':<36} {hanging_webhook(1.0) * 1000:9.1f} ms")


if __name__ == "__main__":
    main()
