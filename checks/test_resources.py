"""CPU and memory of the service's processes stay within the configured limits."""

import pytest

from deploycheck import judge_metrics


def test_cpu(target, usage, verify):
    limit = target.require("resources").max_cpu
    if limit is None:
        pytest.skip(f"{target.id}: no `resources.max_cpu` configured")
    figures = usage.value
    verify(judge_metrics.resource("cpu", figures.cpu_cores, limit, "cores", figures.source, figures.problem))


def test_memory(target, usage, verify):
    limit = target.require("resources").max_memory
    if limit is None:
        pytest.skip(f"{target.id}: no `resources.max_memory` configured")
    figures = usage.value
    verify(judge_metrics.resource("memory", figures.memory_bytes, limit, "bytes", figures.source, figures.problem))
