"""`${VAR}` and `${VAR:-default}` in the configuration: resolved from the process environment, and which of the
resolved values are secrets.

A value is a secret, to be masked in every output, when it sits under a secret-like key (token, password, dsn,
...), is a request header that came from a variable or has a secret-like name, is the password of a URL, or is a
variable's value inside a URL or path anywhere but its scheme, host and port (`http://:${TOKEN}@host`,
`/health?access_token=${TOKEN}`). Defaults written in the file are not secrets (they are in the file for all to see).

A value that resolves to an empty string (`${TOKEN:-}` with TOKEN unset) counts as not given: the key is dropped.
A variable that is unset where the run does not need it (a section no selected check reads) becomes an
`Unresolved` stand-in, which raises `ConfigError` as soon as anything uses it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn
from urllib.parse import urlsplit

from deploycheck.config.errors import ConfigError, KeyPath
from deploycheck.secrets import Secret

VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")
SECRET_KEY = re.compile(r"(?i)(token|password|passwd|dsn|secret|authorization|api[_-]?key|credential|cookie)")


class Unresolved:
    """A value whose `${VAR}` is unset, in a part of the configuration this run did not need. Using it raises."""

    __slots__ = ("key_path", "source", "variables")

    def __init__(self, variables: tuple[str, ...], source: str, key_path: str) -> None:
        self.variables = variables
        self.source = source
        self.key_path = key_path

    def error(self) -> ConfigError:
        names = ", ".join(f"${{{name}}}" for name in self.variables)
        exports = " ".join(f"{name}=..." for name in self.variables)
        reason = f"{names} is not set (this section was loaded without its variables): export {exports}"
        return ConfigError(self.source, self.key_path, reason)

    def reveal(self) -> NoReturn:
        raise self.error()

    def __str__(self) -> NoReturn:
        raise self.error()

    def __format__(self, spec: str) -> NoReturn:
        raise self.error()

    def __bool__(self) -> NoReturn:
        raise self.error()

    def __add__(self, other: object) -> NoReturn:
        raise self.error()

    __radd__ = __add__

    def __getattr__(self, name: str) -> NoReturn:
        if name.startswith("__"):  # copy, pickle and friends probe for optional hooks
            raise AttributeError(name)
        raise self.error()

    def __repr__(self) -> str:
        return f"<unresolved {', '.join(f'${{{name}}}' for name in self.variables)}>"


@dataclass
class Resolution:
    """One tree with its variables resolved: the data, what went wrong (key path, reason), and which key paths
    hold a value that came from a variable (their values are never quoted in error messages)."""

    data: Any
    problems: list[tuple[KeyPath, str]] = field(default_factory=list)
    from_variables: set[KeyPath] = field(default_factory=set)


_EMPTY = object()  # a value that resolved to "": the key is left out


class VariableResolver:
    """Resolves trees of one file against one process environment, collecting the secrets it meets."""

    def __init__(self, environ: Mapping[str, str], source: str) -> None:
        self.environ = environ
        self.source = source
        self.secrets: dict[str, Secret] = {}

    def resolve(self, data: Any, demanded: Callable[[KeyPath], bool], describe: Callable[[KeyPath], str]) -> Resolution:
        """`demanded(path)`: must this value's variables be set? `describe(path)`: its key path as the user sees it."""
        outcome = Resolution(None)

        def walk(value: Any, path: KeyPath) -> Any:
            if isinstance(value, dict):
                items = ((key, walk(item, (*path, key))) for key, item in value.items())
                return {key: item for key, item in items if item is not _EMPTY}
            if isinstance(value, list):
                items = (walk(entry, (*path, index)) for index, entry in enumerate(value))
                return ["" if item is _EMPTY else item for item in items]
            if not isinstance(value, str):
                return value
            if "${" not in value:
                self._keep_secrets(value, path, [])
                return value
            return self._substitute(value, path, demanded, describe, outcome)

        outcome.data = walk(data, ())
        return outcome

    def _substitute(
        self,
        template: str,
        path: KeyPath,
        demanded: Callable[[KeyPath], bool],
        describe: Callable[[KeyPath], str],
        outcome: Resolution,
    ) -> Any:
        if "${" in VARIABLE.sub("", template):
            outcome.problems.append(
                (path, "a `${` that is not a variable reference: write ${NAME} or ${NAME:-default}")
            )
            return _EMPTY
        text, unset, from_environment = "", [], []
        position = 0
        for match in VARIABLE.finditer(template):
            text += template[position : match.start()]
            position = match.end()
            name, default = match["name"], match["default"]
            if name in self.environ:
                from_environment.append((len(text), len(text) + len(self.environ[name])))
                text += self.environ[name]
            elif default is not None:
                text += default
            else:
                unset.append(name)
        text += template[position:]
        if unset:
            if demanded(path):
                names = ", ".join(f"${{{name}}}" for name in unset)
                exports = " ".join(f"{name}=..." for name in unset)
                outcome.problems.append((path, f"{names} is not set: export {exports} before running"))
                return _EMPTY
            return Unresolved(tuple(unset), self.source, describe(path))
        if from_environment:
            outcome.from_variables.add(path)
        self._keep_secrets(text, path, from_environment)
        return text if text else _EMPTY

    def _keep_secrets(self, text: str, path: KeyPath, from_environment: list[tuple[int, int]]) -> None:
        keys = [part for part in path if isinstance(part, str)]
        leaf = keys[-1] if keys else ""
        values = [text[start:end] for start, end in from_environment]
        if len(keys) >= 2 and keys[-2] == "headers":
            secret = values + ([text] if SECRET_KEY.search(leaf) else [])
        elif SECRET_KEY.search(leaf):
            secret = [*values, text]
        elif leaf == "url" or leaf.endswith("_url"):
            secret = [text[start:end] for start, end in from_environment if not _in_host(text, start, end)]
            secret += [_url_password(text)]
        elif leaf == "path":
            secret = values
        else:
            secret = []
        for value in secret:
            if value:
                self.secrets.setdefault(value, Secret(value))


def _in_host(url: str, start: int, end: int) -> bool:
    """Does text[start:end] lie within the URL's scheme, host and port (the parts every report shows anyway)?"""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if not parts.scheme or not url[len(parts.scheme) :].startswith("://"):
        return False
    authority = len(parts.scheme) + 3
    host = authority + parts.netloc.rfind("@") + 1  # after the user:password@, if any
    touches_userinfo = host > authority and start < host and end > authority
    return not touches_userinfo and end <= authority + len(parts.netloc)


def _url_password(url: str) -> str:
    try:
        return urlsplit(url).password or ""
    except ValueError:
        return ""
