"""The environment file's JSON Schema, `python -m deploycheck schema | validate`, and the reference in the docs:
all generated from, or checked against, the one model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from deploycheck.config.reference import BEGIN, END, reference
from deploycheck.config.schema import SCHEMA_FILE
from tests.conftest import REPO

ENVIRONMENTS = REPO / "environments"
SHIPPED = sorted(path.stem for path in ENVIRONMENTS.glob("*.yaml"))
# Every variable the shipped files mention, set as a pipeline would set them.
SHIPPED_VARIABLES = {"PROMETHEUS_TOKEN": "prometheus-token", "API_GATEWAY_DB_DSN": "postgresql://app:pw@db/app"}
MODELINE = "# yaml-language-server: $schema=../deploycheck/schemas/environment-v1.schema.json"


def deploycheck(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m deploycheck ...` with the suite's own interpreter, from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", "deploycheck", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def clean_environ(**extra: str) -> dict[str, str]:
    import os

    return {key: value for key, value in os.environ.items() if not key.startswith("DEPLOYCHECK_")} | extra


def test_the_committed_schema_is_the_models():
    printed = deploycheck("schema")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == SCHEMA_FILE.read_text(encoding="utf-8"), (
        "the model changed: python -m deploycheck schema > deploycheck/schemas/environment-v1.schema.json"
    )


def test_the_schema_is_valid_and_accepts_every_shipped_file():
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for name in SHIPPED:
        document = yaml.safe_load((ENVIRONMENTS / f"{name}.yaml").read_text(encoding="utf-8"))
        assert not [error.message for error in validator.iter_errors(document)], name


def test_the_schema_rejects_unknown_keys_for_editors():
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))
    assert not validator.is_valid({"environment": "x", "services": {"a": {"url": "http://a", "helth": {}}}})
    assert validator.is_valid({"environment": "x", "services": {"a": {"url": "${A_URL}", "timeout": "${T}"}}})


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_files_point_editors_at_the_schema(name):
    assert (ENVIRONMENTS / f"{name}.yaml").read_text(encoding="utf-8").splitlines()[0] == MODELINE


def test_validate_checks_every_shipped_file():
    run = deploycheck("validate", env=clean_environ(**SHIPPED_VARIABLES))
    assert run.returncode == 0, run.stdout + run.stderr
    assert [line.split(":")[0] for line in run.stdout.splitlines()] == [f"environments/{name}.yaml" for name in SHIPPED]


def test_validate_prints_every_error_and_exits_4(tmp_path):
    (tmp_path / "good.yaml").write_text("environment: good\nservices: {api: {url: 'http://api'}}\n")
    (tmp_path / "bad.yaml").write_text(
        "environment: bad\nservices:\n  api: {url: 'http://api', timeout: .nan}\n  web: {url: '${WEB_URL}'}\n"
    )
    run = deploycheck("validate", "--environments-dir", str(tmp_path), env=clean_environ())
    assert run.returncode == 4
    assert f"{tmp_path / 'good.yaml'}: ok (1 services: api)" in run.stdout
    assert "bad.yaml:3:28: services.api.timeout: expected a duration" in run.stderr
    assert "bad.yaml:4:9: services.web.url: ${WEB_URL} is not set: export WEB_URL=... before running" in run.stderr
    assert "Traceback" not in run.stderr


def test_validate_takes_names_and_the_directory_from_the_environment(tmp_path):
    (tmp_path / "good.yaml").write_text("environment: good\nservices: {api: {url: '${API_URL}'}}\n")
    (tmp_path / "bad.yaml").write_text("environment: other\nservices: {api: {url: 'http://api'}}\n")
    environ = clean_environ(DEPLOYCHECK_ENVIRONMENTS_DIR=str(tmp_path), API_URL="http://api")
    assert deploycheck("validate", "good", env=environ).returncode == 0
    missing = deploycheck("validate", "good", "nowhere", env=environ)
    assert missing.returncode == 4 and "no such environment 'nowhere' (environments in" in missing.stderr


def test_the_reference_in_the_docs_is_the_models():
    text = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert BEGIN in text and END in text, "docs/configuration.md lost its reference markers"
    documented = text[text.index(BEGIN) : text.index(END) + len(END)] + "\n"
    assert documented == reference(), "the model changed: paste `python -m deploycheck reference` into the docs"


def test_every_key_has_a_description():
    from deploycheck.config.model import EnvironmentFile
    from deploycheck.config.reference import places

    undocumented = [
        f"{model.__name__}.{name}"
        for model in places(EnvironmentFile, "")
        for name, field in model.__pydantic_fields__.items()
        if not field.description
    ]
    assert not undocumented


def test_the_reference_documents_every_key():
    from deploycheck.config.model import EnvironmentFile
    from deploycheck.config.reference import places

    text = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    for model, paths in places(EnvironmentFile, "").items():
        heading = "### Top level" if paths == [""] else f"### `{paths[0]}`"
        table = text[text.index(heading) :].split("\n\n### ", 1)[0]
        for name in model.__pydantic_fields__:
            assert f"| `{name}` |" in table, f"{paths[0] or 'top level'}.{name} is not in docs/configuration.md"


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_environment_loads_with_its_variables(name):
    from deploycheck.config.loader import load_environment

    environment = load_environment(ENVIRONMENTS, name, environ=SHIPPED_VARIABLES)
    assert environment.name == name and environment.services
    if environment.prometheus is not None:
        assert environment.prometheus.token is not None and environment.prometheus.token.reveal() == "prometheus-token"
        assert "prometheus-token" in {secret.reveal() for secret in environment.secrets}


def test_docs_example_of_errors_is_what_the_loader_says(tmp_path):
    """The error example in docs/configuration.md, reproduced."""
    from deploycheck.config.loader import ConfigError, load_environment

    (tmp_path / "staging.yaml").write_text(
        "environment: staging\n"
        "\n"
        "\n"
        "prometheus:\n"
        "  url: http://prometheus:9090\n"
        "  tiemout: 5s\n"
        "services:\n"
        "  api:\n"
        "    url: http://api\n"
        "\n"
        "\n"
        "    timeout: 0\n"
        "    database:\n"
        "      migrations: {tool: alembic}\n"
        "      dsn: ${API_DB_DSN}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_environment(tmp_path, "staging", environ={})
    text = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    for problem in caught.value.problems:
        shown = str(problem).replace(str(tmp_path), "environments")
        assert shown in text, shown
    assert Path(caught.value.source).name == "staging.yaml"
