"""The `grpc` section is in the JSON Schema and `validate` refuses what cannot be asked, naming the key."""

from __future__ import annotations

import json

import jsonschema

from deploycheck.config.schema import SCHEMA_FILE
from tests.unit.test_config_schema import clean_environ, deploycheck

SERVICE = "environment: staging\nservices:\n  api:\n    url: http://127.0.0.1:8080\n    grpc: {grpc}\n"


def validate(tmp_path, grpc):
    (tmp_path / "staging.yaml").write_text(SERVICE.format(grpc=grpc))
    return deploycheck("validate", "--environments-dir", str(tmp_path), env=clean_environ())


def test_validate_accepts_a_grpc_section_and_refuses_one_with_nothing_to_ask(tmp_path):
    assert validate(tmp_path, '{target: "orders:50051", services: ["", orders.v1.Orders]}').returncode == 0
    empty = validate(tmp_path, '{target: "orders:50051", services: []}')
    assert empty.returncode == 4
    assert "services.api.grpc: `services` must name at least one gRPC service" in empty.stdout + empty.stderr
    no_port = validate(tmp_path, '{target: "orders"}')
    assert no_port.returncode == 4 and "`target` must be host:port" in no_port.stdout + no_port.stderr
    unverified = validate(tmp_path, '{target: "orders:50051", tls: {verify: false}}')
    assert unverified.returncode == 4 and "services.api.grpc.tls.verify" in unverified.stdout + unverified.stderr


def test_the_schema_knows_the_grpc_section():
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))
    good = {"environment": "staging", "services": {"api": {"url": "http://a", "grpc": {"target": "a:1"}}}}
    assert not list(validator.iter_errors(good))
    typo = {
        "environment": "staging",
        "services": {"api": {"url": "http://a", "grpc": {"target": "a:1", "servics": []}}},
    }
    assert list(validator.iter_errors(typo))
