"""CPU and memory of the service's processes stay within the configured limits."""

import pytest

from deploycheck.kinds.metrics import rules


def test_cpu(target, usage, verify):
    verify(within(target, usage, "cpu", "max_cpu", usage.value.cpu_cores, "cores"))


def test_memory(target, usage, verify):
    verify(within(target, usage, "memory", "max_memory", usage.value.memory_bytes, "bytes"))


def within(target, usage, kind, limit_key, observed, unit):
    """The usage figure against `resources.<limit_key>`; a limit not configured skips the check."""
    limit = getattr(target.require("resources"), limit_key)
    if limit is None:
        pytest.skip(f"{target.id}: no `resources.{limit_key}` configured")
    problem = usage.value.problem or usage.value.missing.get(kind)  # why this figure is missing, when it is
    return rules.resource(kind, observed, limit, unit, usage.value.source, problem)
