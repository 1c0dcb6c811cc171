"""Declared flows: the `declared_flows:` section of an environment file, for teams that do not write Python.

A flow is a list of steps, each one request with what to expect and what to save from the answer, and cleanup
steps that always run. `${run_id}`, `${VAR}` (the process environment, for secrets) and the names saved by earlier
steps are substituted when the step is sent, never when the file is loaded (`substitute.py`).
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import Field, model_validator

from deploycheck.config.types import (
    Duration,
    Flag,
    HeaderName,
    HttpStatus,
    Milliseconds,
    Model,
    Text,
)
from deploycheck.flows.substitute import VARIABLE

Method = Literal["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"]
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class Expect(Model):
    """What a good answer to a step looks like."""

    status: HttpStatus | list[HttpStatus] = Field(
        default=200, description="the status (or one of the statuses) a good answer has", examples=[201]
    )
    fields: dict[Text, Any] = Field(
        default={},
        description="dotted paths into the JSON answer, and the values they must have (`${...}` substituted)",
        examples=[{"status": "pending", "items.0.sku": "TEST-1"}],
    )
    max_ms: Milliseconds | None = Field(default=None, description="latency limit of the step (ms)", examples=[500])


class FlowStep(Model):
    """One request of a flow."""

    name: Text = Field(description="what the step does, as the verdict names it", examples=["create an order"])
    method: Method = Field(default="GET", description="HTTP method")
    path: Text = Field(
        description="path (and query) under the service's URL; `${...}` substituted", examples=["/v1/orders/${id}"]
    )
    headers: dict[HeaderName, Text] = Field(
        default={}, description="request headers", examples=[{"Idempotency-Key": "${run_id}-pay"}]
    )
    body: Any = Field(default=None, description="a JSON body", examples=[{"reference": "smoke-${run_id}"}])
    form: dict[Text, Text] | None = Field(
        default=None, description="a form body (application/x-www-form-urlencoded)", examples=[{"username": "x"}]
    )
    expect: Expect = Field(default_factory=Expect, description="what a good answer looks like")
    save: dict[str, Text] = Field(
        default={},
        description="names to save for later steps, each from a dotted path into the JSON answer",
        examples=[{"token": "access_token", "order_id": "id"}],
    )
    until: dict[Text, Any] = Field(
        default={},
        description="send the step again until the answer has these fields (e.g. a job that finishes)",
        examples=[{"status": "done"}],
    )
    within: Duration = Field(default=5.0, description="how long `until` may take", examples=["10s"])
    retries: int | None = Field(
        default=None,
        ge=0,
        le=3,
        description="retries after a connection error or a 502/503/504 (default: 1 for GET, HEAD, OPTIONS, PUT, "
        "DELETE and requests with an Idempotency-Key, else 0)",
    )

    @model_validator(mode="after")
    def _one_body(self) -> Self:
        if self.body is not None and self.form is not None:
            raise ValueError("a step sends a JSON `body` or a `form`, not both")
        bad = [name for name in self.save if not VARIABLE.fullmatch("${" + name + "}")]
        if bad:
            raise ValueError(f"`save` names are letters, digits and '_': {bad[0]!r}")
        if self.retries and self.method not in IDEMPOTENT_METHODS and "idempotency-key" not in _lower(self.headers):
            raise ValueError(f"a {self.method} without an Idempotency-Key header is never retried: drop `retries`")
        return self


class DeclaredFlow(Model):
    """A key user flow written in the environment file."""

    mutating: Flag = Field(
        default=False, description="it changes data: runs only where `allow_mutating_flows` or --allow-mutating"
    )
    headers: dict[HeaderName, Text] = Field(
        default={},
        description="headers of every step; one whose `${name}` is not saved yet is left out (so a login step "
        "goes without the bearer token it fetches)",
        examples=[{"Authorization": "Bearer ${token}"}],
    )
    steps: list[FlowStep] = Field(min_length=1, description="the requests, in order; the first failure stops it")
    cleanup: list[FlowStep] = Field(
        default=[],
        description="requests that always run after the steps, even when one failed (a step whose `${name}` was "
        "never saved is left out: there is nothing to clean up)",
    )


def _lower(headers: dict[str, str]) -> set[str]:
    return {name.lower() for name in headers}
