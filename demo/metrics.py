"""Hand-written Prometheus metrics for one demo service.

Only what the suite needs: a request-duration histogram, a request counter and
two process gauges, rendered in the text exposition format 0.0.4.  Everything
runs on one asyncio loop, so no locking is needed.
"""

from __future__ import annotations

import math
import os
import resource
import time
from dataclasses import dataclass, field

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Upper bounds in seconds; +Inf is implicit.  Dense around 0.1-0.3 s because the
# suite's P95 threshold is 200 ms.
BUCKETS: tuple[float, ...] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.25,
    0.3,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
)

LabelKey = tuple[str, str, str]  # (method, route, status)


@dataclass
class _Series:
    """Per-label-set state: non-cumulative bucket counts (last slot is +Inf)."""

    buckets: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    total: float = 0.0
    count: int = 0


class ServiceMetrics:
    """Request metrics of one service, labelled service/method/route/status."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._series: dict[LabelKey, _Series] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Record one finished request."""
        series = self._series.setdefault((method, route, str(status)), _Series())
        index = next((i for i, bound in enumerate(BUCKETS) if seconds <= bound), len(BUCKETS))
        series.buckets[index] += 1
        series.total += seconds
        series.count += 1

    def render(self) -> str:
        """The service's metrics plus the process gauges, as exposition text."""
        lines = [
            "# HELP http_request_duration_seconds Time from request arrival to response, in seconds.",
            "# TYPE http_request_duration_seconds histogram",
        ]
        for key, series in sorted(self._series.items()):
            labels = self._labels(key)
            cumulative = 0
            for bound, n in zip((*BUCKETS, math.inf), series.buckets, strict=True):
                cumulative += n
                lines.append(f'http_request_duration_seconds_bucket{{{labels},le="{_fmt_le(bound)}"}} {cumulative}')
            lines.append(f"http_request_duration_seconds_sum{{{labels}}} {series.total!r}")
            lines.append(f"http_request_duration_seconds_count{{{labels}}} {series.count}")
        lines += [
            "# HELP http_requests_total Requests served, by method, route and status.",
            "# TYPE http_requests_total counter",
        ]
        for key, series in sorted(self._series.items()):
            lines.append(f"http_requests_total{{{self._labels(key)}}} {series.count}")
        rss, cpu = process_usage()
        lines += [
            "# HELP process_resident_memory_bytes Resident memory of the demo process (shared by all its services).",
            "# TYPE process_resident_memory_bytes gauge",
            f"process_resident_memory_bytes {rss}",
            "# HELP process_cpu_seconds_total User+system CPU time of the demo process (shared by all its services).",
            "# TYPE process_cpu_seconds_total counter",
            f"process_cpu_seconds_total {cpu!r}",
        ]
        return "\n".join(lines) + "\n"

    def _labels(self, key: LabelKey) -> str:
        method, route, status = key
        return (
            f'service="{_escape(self.service)}",method="{_escape(method)}",route="{_escape(route)}",status="{status}"'
        )


def process_usage() -> tuple[int, float]:
    """(resident bytes, cpu seconds) of this process, from /proc/self when available."""
    cpu = time.process_time()
    try:
        with open("/proc/self/statm") as f:
            rss_pages = int(f.read().split()[1])
        return rss_pages * os.sysconf("SC_PAGE_SIZE"), cpu
    except (OSError, ValueError, IndexError):
        # Not Linux: peak RSS is the best stdlib approximation (KiB on Linux/BSD).
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, cpu


def _fmt_le(bound: float) -> str:
    # Go-client style: "0.005", "1", "2.5", "+Inf".
    return "+Inf" if math.isinf(bound) else f"{bound:g}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
