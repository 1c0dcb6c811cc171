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
from deploycheck.metrics import Traffic

FORMAT = "deploycheck-baseline/1"


class BaselineFileError(ValueError):
    """The baseline file cannot be used: says which file and why."""


def write(path: Path, environment: str, traffic: Mapping[str, Traffic], recorded_at: float) -> None:
    document = {
        "format": FORMAT,
        "environment": environment,
        "recorded_at": datetime.fromtimestamp(recorded_at, UTC).isoformat(timespec="seconds"),
        "services": {name: _finite(asdict(figures)) for name, figures in traffic.items()},
    }
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


def _traffic(body: dict[str, Any], recorded_at: str) -> Traffic:
    fields = {key: body[key] for key in ("requests", "errors", "p95_s", "window", "source", "elapsed_ms", "problem")}
    fields["window"] = f"{fields['window']}, recorded {recorded_at}"
    return Traffic(**fields)


def _finite(figures: dict[str, Any]) -> dict[str, Any]:
    """NaN and infinities are not JSON: a figure that was not a number is recorded as missing."""
    return {
        key: None if isinstance(value, float) and not math.isfinite(value) else value for key, value in figures.items()
    }
