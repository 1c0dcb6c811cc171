"""The `$schema` modeline works where a team's environment files live: `init` writes the schema next to them and
points them at it; `schema --write PATH` writes it anywhere and prints the line that reaches it from those files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import yaml

from deploycheck.config.schema import schema_text

PREFIX = "# yaml-language-server: $schema="


def deploycheck(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deploycheck", *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def schema_of(environment_file: Path) -> Path:
    """The file an editor opens for this environment file's modeline (relative to the file, as editors resolve it)."""
    first = environment_file.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith(PREFIX), first
    return (environment_file.parent / first.removeprefix(PREFIX)).resolve()


def test_init_writes_the_schema_next_to_the_environment_files_and_points_them_at_it(tmp_path):
    assert deploycheck(tmp_path, "init", "team").returncode == 0
    environments = tmp_path / "team" / "environments"

    for environment_file in environments.glob("*.yaml"):
        schema = schema_of(environment_file)
        assert schema == environments / "environment-v1.schema.json" and schema.read_text() == schema_text()
        jsonschema.validate(yaml.safe_load(environment_file.read_text()), json.loads(schema.read_text()))


def test_init_keeps_an_existing_schema_and_says_when_it_is_not_this_versions(tmp_path):
    assert deploycheck(tmp_path, "init", "team").returncode == 0
    schema = tmp_path / "team" / "environments" / "environment-v1.schema.json"
    schema.write_text("{}\n")

    again = deploycheck(tmp_path, "init", "team")
    assert again.returncode == 0 and schema.read_text() == "{}\n"  # a team's file is never overwritten
    assert (
        f"it is not this deploycheck's schema: python -m deploycheck schema --write {schema.relative_to(tmp_path)}"
        in again.stdout
    )


def test_schema_write_puts_it_anywhere_and_prints_the_line_that_reaches_it(tmp_path):
    environments = tmp_path / "environments"
    environments.mkdir()
    written = deploycheck(tmp_path, "schema", "--write", "config/schemas/deploycheck.json")

    assert written.returncode == 0, written.stderr
    line = written.stdout.splitlines()[-1]
    assert line == f"{PREFIX}../config/schemas/deploycheck.json"
    production = environments / "production.yaml"
    production.write_text(f"{line}\nenvironment: production\nservices: {{api: {{url: https://api.example.com}}}}\n")
    schema = schema_of(production)
    assert schema.read_text() == schema_text()
    jsonschema.validate(yaml.safe_load(production.read_text()), json.loads(schema.read_text()))


def test_schema_write_to_a_folder_names_the_file_and_a_bad_path_is_a_usage_error(tmp_path):
    written = deploycheck(tmp_path, "schema", "--write", ".", "--environments-dir", ".")
    assert written.returncode == 0, written.stderr
    assert (tmp_path / "environment-v1.schema.json").read_text() == schema_text()
    assert written.stdout.splitlines()[-1] == f"{PREFIX}./environment-v1.schema.json"

    (tmp_path / "a-file").write_text("")
    refused = deploycheck(tmp_path, "schema", "--write", "a-file/schema.json")
    assert refused.returncode == 4 and "cannot write the schema to a-file/schema.json" in refused.stderr
