"""The JSON Schema of an environment file, generated from the model. A committed copy (`SCHEMA_FILE`) is what the
`yaml-language-server` modeline of each environment file points at, so editors complete and check keys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from deploycheck.config_model import EnvironmentFile

SCHEMA_ID = "https://deploycheck.dev/schemas/environment/v1.json"
SCHEMA_FILE = Path(__file__).parent / "schemas" / "environment-v1.schema.json"


def environment_schema() -> dict[str, Any]:
    generated = EnvironmentFile.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **generated,
        "description": "environments/<name>.yaml: see docs/configuration.md. Values may be ${VAR} references.",
    }


def schema_text() -> str:
    """The schema as committed: indented, keys in model order, one final newline."""
    return json.dumps(environment_schema(), indent=2, ensure_ascii=False) + "\n"
