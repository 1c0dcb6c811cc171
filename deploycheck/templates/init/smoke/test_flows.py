"""An example of a team's own key user flow (check id flows.browse_items): it runs for the services that list it
under `flows` in the environment file. Each `step` is one request, recorded in the flow's finding; the first that
fails ends the flow and names itself."""

import pytest


@pytest.mark.flow
def test_browse_items(step):
    step("list the items", "GET", "/v1/items")
