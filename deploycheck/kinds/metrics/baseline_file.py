"""A baseline recorded before the deploy, for services whose metrics have no history (no Prometheus, or a new
one): `--record-baseline` writes each service's traffic figures with their time; `--baseline FILE` after the
deploy compares against them. Pipeline order: record -> deploy -> verify."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deploycheck.files import write_atomically
from deploycheck.kinds.metrics.traffic import Traffic

FORMAT = "deploycheck-baseline/1"


class BaselineFileError(ValueError):
    """The baseline file cannot be used: says which file and why."""


def write(
    path: Path,
    environment: str,
    traffic: Mapping[str, Traffic],
    recorded_at: float,
    schema_heads: Mapping[str, str] | None = None,
) -> None:
    document: dict[str, Any] = {
        "format": FORMAT,
        "environment": environment,
        "recorded_at": datetime.fromtimestamp(recorded_at, UTC).isoformat(timespec="seconds"),
        "services": {name: _figures(figures) for name, figures in traffic.items()},
    }
    if schema_heads:
        # Each database's applied migrations head before the deploy: a rollback over a newer schema is a risk.
        document["schema_heads"] = dict(schema_heads)
    write_atomically(path, json.dumps(document, indent=2, allow_nan=False))


def read(path: Path, environment: str) -> dict[str, Traffic]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise BaselineFileError(f"{path}: cannot read it: {error.strerror or error}") from None
    except ValueError as error:
        raise BaselineFileError(f"{path}: not JSON: {error}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise BaselineFileError(f"{path}: not a baseline written by --record-baseline (format {FORMAT})")
    if document.get("environment") != environment:
        raise BaselineFileError(
            f"{path}: recorded for environment {document.get('environment')!r}, not {environment!r}"
        )
    try:
        return {name: _traffic(body, document["recorded_at"]) for name, body in document["services"].items()}
    except (KeyError, TypeError, AttributeError) as error:
        raise BaselineFileError(f"{path}: a service's figures are incomplete ({error})") from None


def read_schema_heads(path: Path, environment: str) -> dict[str, str]:
    """The schema head of each service's database recorded before the deploy (none in an older file)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(document, dict) or document.get("environment") != environment:
        return {}
    heads = document.get("schema_heads")
    return {str(name): str(head) for name, head in heads.items()} if isinstance(heads, dict) else {}


def _traffic(body: dict[str, Any], recorded_at: str) -> Traffic:
    fields = {key: body[key] for key in ("requests", "errors", "p95_s", "window", "source", "elapsed_ms", "problem")}
    fields["window"] = f"{fields['window']}, recorded {recorded_at}"
    buckets = body.get("buckets")  # absent in a file recorded before the latency histogram was kept
    if buckets is not None:
        fields["buckets"] = tuple((float(bound), float(count)) for bound, count in buckets)
    if body.get("durations") is not None:
        fields["durations"] = tuple(float(seconds) for seconds in body["durations"])
    return Traffic(**fields)


def _figures(traffic: Traffic) -> dict[str, Any]:
    """A window's figures as JSON: the histogram's +Inf bound written as Prometheus writes it."""
    figures = _finite(asdict(traffic))
    if traffic.buckets is not None:
        figures["buckets"] = [["+Inf" if math.isinf(bound) else bound, count] for bound, count in traffic.buckets]
    return figures


def _finite(figures: dict[str, Any]) -> dict[str, Any]:
    """NaN and infinities are not JSON: a figure that was not a number is recorded as missing."""
    return {
        key: None if isinstance(value, float) and not math.isfinite(value) else value for key, value in figures.items()
    }
