"""The http kind's sections of a service: `health`, `ready` (an endpoint and its good answer) and `version`."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field
from pydantic.dataclasses import dataclass

from deploycheck.config.types import (
    HttpStatus,
    Text,
    UrlPath,
)

_STRICT = ConfigDict(extra="forbid")


@dataclass(frozen=True, config=_STRICT)
class Endpoint:
    """An HTTP endpoint a check requests, and what a good answer looks like."""

    path: UrlPath = Field(description="path (and query) under the service's URL", examples=["/health"])
    expect_status: HttpStatus = Field(default=200, description="the status a good answer has")
    expect: dict[str, Any] = Field(
        default_factory=dict,
        description="JSON fields the body must have, with these values",
        examples=[{"status": "ok"}],
    )

    def __repr__(self) -> str:
        return f"Endpoint({_without_query(self.path)!r}, {self.expect_status}, {self.expect!r})"


@dataclass(frozen=True, config=_STRICT)
class VersionEndpoint:
    """Where the service says which version it runs."""

    path: UrlPath = Field(description="path of the version endpoint", examples=["/version"])
    field: Text = Field(default="version", description="dotted path into the JSON body", examples=["build.version"])

    def __repr__(self) -> str:
        return f"VersionEndpoint({_without_query(self.path)!r}, {self.field!r})"


def _without_query(path: str) -> str:
    """A path for display: its query may carry a token (`?access_token=${TOKEN}`)."""
    return path.split("?", 1)[0] + ("?***" if "?" in path else "")
