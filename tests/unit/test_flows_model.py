"""Declared flows: the model of `declared_flows:`, how `${...}` is substituted when a step is sent, and how the
environment file keeps those references unresolved when it is loaded."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from deploycheck.config.loader import ConfigError, load_environment
from deploycheck.flows.declared import environment_names
from deploycheck.flows.model import DeclaredFlow
from deploycheck.flows.substitute import MissingValue, dotted, substitute

LOGIN = {
    "name": "log in",
    "method": "POST",
    "path": "/oauth/token",
    "form": {"username": "${SMOKE_USER}", "password": "${SMOKE_PASSWORD}"},
    "save": {"token": "access_token"},
}
CREATE = {
    "name": "create",
    "method": "POST",
    "path": "/v1/orders",
    "body": {"reference": "smoke-${run_id}", "items": [{"sku": "${SKU}"}]},
    "save": {"order_id": "id"},
}
CLEANUP = {"name": "delete", "method": "DELETE", "path": "/v1/orders/${order_id}"}


def test_substitute_fills_text_inside_lists_and_mappings():
    values = {"run_id": "r1", "order_id": "ord_9"}
    body = {"reference": "smoke-${run_id}", "lines": ["${order_id}", 2, None], "${run_id}": True}

    assert substitute(body, values) == {"reference": "smoke-r1", "lines": ["ord_9", 2, None], "r1": True}


def test_a_value_nobody_gave_is_an_error_naming_it():
    with pytest.raises(MissingValue) as missing:
        substitute("/v1/orders/${order_id}", {"run_id": "r1"})

    assert missing.value.name == "order_id"
    assert "${order_id} has no value" in str(missing.value)


def test_dotted_paths_reach_into_objects_and_lists():
    document = {"items": [{"sku": "A1"}, {"sku": "B2"}], "total": 3}

    assert dotted(document, "items.1.sku") == "B2"
    assert dotted(document, "total") == 3
    with pytest.raises(KeyError):
        dotted(document, "items.2.sku")


def test_the_environment_names_of_a_flow_are_neither_saved_nor_the_run_id():
    flow = DeclaredFlow.model_validate(
        {"headers": {"Authorization": "Bearer ${token}"}, "steps": [LOGIN, CREATE], "cleanup": [CLEANUP]}
    )

    assert environment_names(flow) == {"SMOKE_USER", "SMOKE_PASSWORD", "SKU"}
    assert flow.steps[1].body == CREATE["body"]


@pytest.mark.parametrize(
    ("step", "reason"),
    [
        ({**CREATE, "form": {"a": "b"}}, "a JSON `body` or a `form`, not both"),
        ({**CREATE, "retries": 2}, "never retried"),
        ({**CREATE, "save": {"not a name": "id"}}, "`save` names"),
        ({**CREATE, "method": "FETCH"}, "method"),
    ],
)
def test_a_bad_step_is_rejected_with_the_reason(step, reason):
    with pytest.raises(ValidationError, match=reason):
        DeclaredFlow.model_validate({"steps": [step]})


def test_a_post_with_an_idempotency_key_may_be_retried():
    step = {**CREATE, "retries": 1, "headers": {"Idempotency-Key": "smoke-${run_id}"}}

    assert DeclaredFlow.model_validate({"steps": [step]}).steps[0].retries == 1


def write(tmp_path, declared, **service):
    document = {
        "environment": "staging",
        "declared_flows": declared,
        "services": {"api": {"url": "https://api.example.com", "flows": ["crud"], **service}},
    }
    (tmp_path / "staging.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    return tmp_path


def test_the_file_keeps_the_references_of_a_declared_flow_for_the_run(tmp_path):
    # The variables are set (a flow a service runs needs them), and run_id is no variable at all: neither is
    # substituted when the file is loaded, only when each step is sent.
    declared = {"crud": {"mutating": True, "steps": [LOGIN, CREATE], "cleanup": [CLEANUP]}}
    environ = {"SMOKE_USER": "smoke", "SMOKE_PASSWORD": "pw", "SKU": "TEST-1"}
    environment = load_environment(write(tmp_path, declared), "staging", environ=environ)

    flow = environment.declared_flows["crud"]
    assert flow.mutating and flow.steps[0].form == LOGIN["form"]
    assert flow.steps[1].body["reference"] == "smoke-${run_id}"
    assert environment.allow_mutating_flows is False


def test_a_broken_declared_flow_is_a_configuration_error_with_its_key_path(tmp_path):
    declared = {"crud": {"steps": [{"name": "no path"}]}}

    with pytest.raises(ConfigError, match=r"declared_flows\.crud\.steps\[0\]\.path: missing"):
        load_environment(write(tmp_path, declared), "staging", environ={})


def test_every_value_a_flow_could_not_have_is_said_at_load_with_its_place(tmp_path):
    read = {"name": "read it", "path": "/v1/orders/${orderid}"}
    early = {**CREATE, "body": {"parent": "${parent_id}"}}
    parent = {"name": "parent", "path": "/v1/parent", "save": {"parent_id": "id"}}
    declared = {"crud": {"steps": [LOGIN, early, read, parent], "cleanup": [CLEANUP]}}

    with pytest.raises(ConfigError) as raised:
        load_environment(write(tmp_path, declared), "staging", environ={"SMOKE_USER": "smoke"})

    said = {problem.key_path: problem.reason for problem in raised.value.problems}
    assert set(said) == {
        "declared_flows.crud.steps[0].form.password",
        "declared_flows.crud.steps[1].body.parent",
        "declared_flows.crud.steps[2].path",
    }
    assert "export SMOKE_PASSWORD=..." in said["declared_flows.crud.steps[0].form.password"]
    assert "saved only by a later step (steps[3] 'parent')" in said["declared_flows.crud.steps[1].body.parent"]
    assert "(did you mean ${order_id}?)" in said["declared_flows.crud.steps[2].path"]
    assert all(problem.line for problem in raised.value.problems)  # each with its line and column


def test_a_flow_no_service_runs_needs_no_variables_but_its_saved_values_still_add_up(tmp_path):
    declared = {"crud": {"steps": [LOGIN, CREATE], "cleanup": [CLEANUP]}}
    load_environment(write(tmp_path, declared, flows=[]), "staging", environ={})  # nothing to export

    late = {"crud": {"steps": [{**CREATE, "path": "/v1/${token}"}, LOGIN]}}
    with pytest.raises(ConfigError, match=r"steps\[0\]\.path: \$\{token\} is saved only by a later step"):
        load_environment(write(tmp_path, late, flows=[]), "staging", environ={})


def test_a_declared_flow_named_like_a_built_in_one_is_refused_with_the_fix(tmp_path):
    declared = {"login": {"steps": [{"name": "home", "path": "/"}]}}

    with pytest.raises(ConfigError, match=r"declared_flows\.login: a flow written in Python has this name .*rename"):
        load_environment(write(tmp_path, declared, flows=["login"]), "staging", environ={})
