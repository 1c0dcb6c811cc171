"""What an environment makes the suite send as credentials, for the run's redactor: every secret its `${VAR}`s
resolved to, and every Basic-auth header the suite (or an HTTP client under it) builds, from a URL's
`user:password@` or from a section's `username` and `password`. An echoing server then shows nothing of them, not
even `Basic base64(user:password)`."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel

from deploycheck.config.environment import Environment
from deploycheck.config.variables import Unresolved
from deploycheck.secrets import Redactor, Secret

MAX_DEPTH = 8  # the configuration is shallow; a bound keeps an odd object from costing much


def environment_redactor(environment: Environment) -> Redactor:
    """Masks every secret of the environment in every form (`secrets.forms`), its Basic-auth credentials, and URL
    passwords."""
    redactor = Redactor([secret.reveal() for secret in environment.secrets])
    for user, password in basic_credentials(environment):
        redactor.add_basic(user, password)
    return redactor


def basic_credentials(environment: Environment) -> set[tuple[str, str]]:
    """Every (user, password) the suite may send as Basic auth: URL userinfo (decoded, as HTTP clients send it)
    anywhere in the configuration, and each section's `username` with its `password`."""
    return set(_credentials(environment, 0))


def _credentials(node: Any, depth: int) -> Iterator[tuple[str, str]]:
    if depth > MAX_DEPTH or isinstance(node, Unresolved):  # an unset variable raises on any use
        return
    if isinstance(node, Secret):
        node = node.reveal()
    if isinstance(node, str):
        yield from _userinfo(node)
        return
    if isinstance(node, dict):
        children: list[Any] = list(node.values())
    elif isinstance(node, list | tuple):
        children = list(node)
    elif isinstance(node, BaseModel):
        children = [getattr(node, name) for name in type(node).model_fields]
        user, password = getattr(node, "username", None), getattr(node, "password", None)
        if isinstance(user, str) and isinstance(password, Secret | str):
            yield user, password.reveal() if isinstance(password, Secret) else password
    elif dataclasses.is_dataclass(node) and not isinstance(node, type):
        children = [getattr(node, field.name) for field in dataclasses.fields(node)]
    else:
        return
    for child in children:
        yield from _credentials(child, depth + 1)


def _userinfo(text: str) -> Iterator[tuple[str, str]]:
    if "@" not in text or "://" not in text:
        return
    try:
        parts = urlsplit(text)
    except ValueError:
        return
    if parts.scheme in ("http", "https") and "@" in parts.netloc:
        yield unquote(parts.username or ""), unquote(parts.password or "")
