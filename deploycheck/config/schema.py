"""The JSON Schema of an environment file, generated from the model. A committed copy (`SCHEMA_FILE`) is what the
`yaml-language-server` modeline of this repository's environment files points at, so editors complete and check
keys; a team's repository gets its own copy next to its environment files (`init`, or `schema --write PATH`), with a
modeline that points at it from there."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from deploycheck.config import compose

SCHEMA_ID = "https://deploycheck.dev/schemas/environment/v1.json"
SCHEMA_NAME = "environment-v1.schema.json"
SCHEMA_FILE = Path(__file__).parents[1] / "schemas" / SCHEMA_NAME


def environment_schema() -> dict[str, Any]:
    generated = compose.environment_file().model_json_schema()  # with the sections of plugged kinds
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **generated,
        "description": "environments/<name>.yaml: see docs/configuration.md. Values may be ${VAR} references.",
    }


def schema_text() -> str:
    """The schema as committed: indented, keys in model order, one final newline."""
    return json.dumps(environment_schema(), indent=2, ensure_ascii=False) + "\n"


def write_schema(path: Path) -> Path:
    """Write the schema to `path` (a folder: `path/environment-v1.schema.json`); returns the file written."""
    target = path / SCHEMA_NAME if path.is_dir() else path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(schema_text(), encoding="utf-8")
    return target


def modeline(schema: Path, environments: Path) -> str:
    """The first line of an environment file in `environments` that points editors at `schema`."""
    relative = Path(os.path.relpath(schema.absolute(), environments.absolute())).as_posix()
    return f"# yaml-language-server: $schema={relative if relative.startswith('../') else './' + relative}"
