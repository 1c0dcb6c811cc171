"""Prometheus metrics of one demo service, kept and exposed by `prometheus_client`.

Each service has its own registry, so its /metrics shows only its own series
plus the (shared) process metrics.  The names, labels and buckets are the
conventional ones the suite's metric checks look for by default.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

# No `_created` series: the exposition keeps exactly the series the demo has
# always had.  The demo owns its process, so this global switch is ours to flip.
disable_created_metrics()

# Upper bounds in seconds; +Inf is implicit.  Dense around 0.1-0.3 s because the
# suite's P95 threshold is 200 ms.
BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.5, 0.75, 1.0, 2.5, 5.0)
LABELS = ("service", "method", "route", "status")


class ServiceMetrics:
    """Request metrics of one service, labelled service/method/route/status, in its own registry."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry(auto_describe=False)
        self._duration = Histogram(
            "http_request_duration_seconds",
            "Time from request arrival to response, in seconds.",
            LABELS,
            registry=self.registry,
            buckets=BUCKETS,
        )
        self._requests = Counter(
            "http_requests_total", "Requests served, by method, route and status.", LABELS, registry=self.registry
        )
        self.registry.register(PROCESS)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Record one finished request."""
        labels = (self.service, method, route, str(status))
        self._duration.labels(*labels).observe(seconds)
        self._requests.labels(*labels).inc()

    def exposition(self, accept: str = "") -> tuple[bytes, str]:
        """(body, content type) in the format the Accept header asks for, as prometheus_client negotiates it:
        the text format 0.0.4 by default, OpenMetrics for a Prometheus that prefers it."""
        encode, content_type = choose_encoder(accept)
        return encode(self.registry), content_type


class ProcessMetrics(Collector):
    """Memory and CPU of the demo process (shared by all its services), unlabelled.

    Only these two, rather than prometheus_client's ProcessCollector, so every
    service shows the same small, stable set of series.
    """

    def collect(self) -> Iterator[Metric]:
        rss, cpu = process_usage()
        yield GaugeMetricFamily(
            "process_resident_memory_bytes", "Resident memory of the demo process (shared by all its services).", rss
        )
        yield CounterMetricFamily(
            "process_cpu_seconds_total", "User+system CPU time of the demo process (shared by all its services).", cpu
        )


PROCESS = ProcessMetrics()


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
