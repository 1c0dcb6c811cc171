"""How the demo's API signs in, for the flows of this folder: the OAuth2 password grant at /v1/auth/token.

The plugin's own `log_in` posts the same form to `/oauth/token` (or `flow_options.<flow>.params.token_path`); an
API that logs in another way overrides `log_in` like this, once, and every flow here uses it."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from deploycheck.flows.context import Account


@pytest.fixture(scope="session")
def log_in() -> Callable[[Callable[..., httpx.Response], Account], str]:
    def oauth2_password(step: Callable[..., httpx.Response], account: Account) -> str:
        form = {"grant_type": "password", "username": account.username or "", "password": account.password or ""}
        return str(step("log in", "POST", "/v1/auth/token", data=form).json()["access_token"])

    return oauth2_password
