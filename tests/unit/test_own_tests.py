"""The suite's own tests cannot skip silently in CI: every skip goes through `tests.processes.unavailable`, which
fails instead where CI installed what was missing (DEPLOYCHECK_REQUIRE_*)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

TESTS = REPO / "tests"
THE_RULE = TESTS / "processes.py"
SKIPS = {"skip", "skipif", "importorskip"}  # pytest.skip(...), @pytest.mark.skipif, pytest.importorskip(...)


def direct_skips(path: Path) -> list[str]:
    """`file:line: pytest.skip` for each skip written in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        f"{path.name}:{node.lineno}: {ast.unparse(node)}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr in SKIPS
    ]


def test_no_test_skips_except_through_the_rule():
    direct = [line for path in sorted(TESTS.rglob("*.py")) if path != THE_RULE for line in direct_skips(path)]
    assert direct == [], "skip with tests.processes.unavailable(reason, 'DEPLOYCHECK_REQUIRE_...'): " + "; ".join(
        direct
    )


def test_the_guard_sees_a_direct_skip(tmp_path):
    planted = tmp_path / "test_planted.py"
    planted.write_text("import pytest\n\n\ndef test_x():\n    pytest.skip('no server')\n")
    assert direct_skips(planted) == ["test_planted.py:5: pytest.skip"]
