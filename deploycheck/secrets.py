"""Secrets: values that must be used but never shown.

A `Secret` prints as `***`; only `reveal()` gives the value. The `Redactor` scrubs known secret values (and the
password part of any URL) from free text such as error messages, so nothing that leaves the suite carries them.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "***"

# user:password@ in a URL or DSN, e.g. postgresql://app:s3cret@db:5432/app
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]+:)(?P<password>[^@\s]+)(?=@)")
# key=value pairs in libpq DSNs and query strings: password=..., token=...
_KEY_VALUE = re.compile(r"(?i)\b(?P<key>password|passwd|token|secret|api[_-]?key)=(?P<value>[^\s&;]+)")


class Secret:
    """A string that is never printed; compare and pass it around freely."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK})"

    def __str__(self) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


class Redactor:
    """Replaces every registered secret value, and URL passwords, with `***`."""

    def __init__(self, secrets: list[str] | None = None) -> None:
        self._values: set[str] = set()
        for value in secrets or []:
            self.add(value)

    def add(self, value: str | Secret) -> None:
        text = value.reveal() if isinstance(value, Secret) else value
        # Very short values would mask unrelated text ("1", "on") without protecting anything.
        if len(text) >= 4:
            self._values.add(text)

    def __call__(self, text: str) -> str:
        # Longest first, so a secret that contains another is masked whole.
        for value in sorted(self._values, key=len, reverse=True):
            text = text.replace(value, MASK)
        text = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
        return _KEY_VALUE.sub(lambda m: f"{m.group('key')}={MASK}", text)

    def scrub(self, data: object) -> object:
        """Redact every string inside nested dicts and lists (for JSON output)."""
        if isinstance(data, str):
            return self(data)
        if isinstance(data, dict):
            return {key: self.scrub(value) for key, value in data.items()}
        if isinstance(data, list | tuple):
            return [self.scrub(value) for value in data]
        return data

    def scrub_document(self, document: dict[str, Any]) -> dict[str, Any]:
        """`scrub` for a JSON object, keeping its type."""
        return {key: self.scrub(value) for key, value in document.items()}
