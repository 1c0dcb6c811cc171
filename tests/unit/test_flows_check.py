"""Python flows found by reading their files (for `validate` and a run's load), by the rule collection applies:
`@pytest.mark.flow` on a `test_` function, its `name=` (or first argument) else the function's name."""

from __future__ import annotations

from deploycheck.flows.check import built_in_flows, python_flows

TEAM_FILE = """
import pytest
from pytest import mark

pytestmark = [pytest.mark.skipif(False, reason="")]


@pytest.mark.flow
def test_browse_items(step):
    pass


@pytest.mark.flow(name="checkout", mutating=True)
def test_buy_something(step):
    pass


@mark.flow("refund")
def test_give_it_back(step):
    pass


@pytest.mark.advisory
def test_not_a_flow():
    pass


def helper_flow():
    pass
"""


def test_every_way_of_marking_a_flow_is_read_with_its_name(tmp_path):
    (tmp_path / "smoke").mkdir()
    (tmp_path / "smoke" / "test_team.py").write_text(TEAM_FILE)
    (tmp_path / "smoke" / "test_marked.py").write_text(
        "import pytest\n\npytestmark = pytest.mark.flow\n\n\ndef test_whole_module(step):\n    pass\n"
    )
    (tmp_path / "smoke" / "test_broken.py").write_text("def test_(:\n")  # collection says so; not a crash here

    found = python_flows([tmp_path / "smoke"])

    assert set(found) == {"browse_items", "checkout", "refund", "whole_module"}
    assert found["checkout"].endswith("test_team.py:14")


def test_the_built_in_flows_are_known():
    assert {"login", "create_order", "process_payment", "generate_report"} <= set(built_in_flows())
