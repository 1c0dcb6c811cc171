"""The sections of an environment file that later checks read: metrics and SLOs, Kubernetes, databases, rollback,
alerts, notifications. Each is typed here so that a check only reads attributes, never raw mappings.

Environment level: `prometheus`, `alertmanager`, `kubernetes` (the cluster), `notifications`.
Service level: `metrics`, `slo`, `baseline`, `alerts`, `resources`, `kubernetes` (the workload), `database`,
`rollback`. Every description below is also the reference in docs/configuration.md and the editor's hover text.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from deploycheck.config.types import (
    Count,
    HeaderName,
    HeaderValue,
    HttpUrl,
    KubernetesName,
    Section,
    Text,
    Timeout,
)

VerdictName = Literal["PASS", "FAIL", "INCONCLUSIVE"]

# --------------------------------------------------------------------------------------------------------------
# Environment level


class Webhook(Section):
    """One URL that receives the verdict as JSON."""

    url: HttpUrl = Field(description="where to POST the verdict", examples=["${SLACK_WEBHOOK_URL}"], repr=False)
    verdicts: tuple[VerdictName, ...] = Field(
        default=("FAIL", "INCONCLUSIVE"), description="which verdicts are sent", examples=[["FAIL"]]
    )
    headers: dict[HeaderName, HeaderValue] = Field(default={}, description="extra request headers", repr=False)
    timeout: Timeout = Field(default=10.0, description="request timeout", examples=["10s"])
    format: Literal["json", "slack"] = Field(
        default="json", description="`slack`: a Slack-compatible message (`text`); `json`: the verdict as data"
    )


class Notifications(Section):
    """Who hears about the verdict."""

    webhooks: tuple[Webhook, ...] = Field(
        default=(), description="webhooks to call", examples=[[{"url": "${SLACK_WEBHOOK_URL}", "verdicts": ["FAIL"]}]]
    )


# --------------------------------------------------------------------------------------------------------------
# Service level


class Rollback(Section):
    """How a FAIL verdict is rolled back."""

    strategy: Literal["kubernetes", "helm", "blue-green", "none"] = Field(
        description="kubernetes (rollout undo), helm (rollback a release), blue-green (switch back), none",
        examples=["kubernetes"],
    )
    release: Text | None = Field(default=None, description="Helm release (strategy helm)", examples=["payments"])
    revision: Count | None = Field(default=None, description="revision to return to (default: the previous one)")
    service: KubernetesName | None = Field(default=None, description="Service whose selector switches (blue-green)")
    colours: tuple[Text, Text] = Field(default=("blue", "green"), description="the two colours (blue-green)")
    preview_url: HttpUrl | None = Field(
        default=None,
        description="the idle colour's own URL: --promote checks it before switching traffic (blue-green)",
        examples=["https://orders-preview.shop.example"],
    )
    timeout: Timeout = Field(default=300.0, description="how long to wait for the rollback to finish", examples=["5m"])

    @model_validator(mode="after")
    def _fields_of_strategy(self) -> Self:
        if self.strategy == "helm" and self.release is None:
            raise ValueError("`strategy: helm` needs the `release` to roll back")
        if self.strategy == "blue-green" and self.service is None:
            raise ValueError("`strategy: blue-green` needs the `service` whose selector switches colour")
        if self.preview_url is not None and self.strategy != "blue-green":
            raise ValueError("`preview_url` applies to `strategy: blue-green` only")
        if self.release is not None and self.strategy != "helm":
            raise ValueError("`release` applies to `strategy: helm` only")
        return self
