"""A kind from outside the suite brings its own configuration section: validated like the built-in ones (a wrong
value is a ConfigError naming its key), in the JSON Schema, and read as `service.section(name)`. With none
plugged, the schema is the committed one."""

from __future__ import annotations

import json
from textwrap import dedent

import pytest
from pydantic import Field

from deploycheck.config import compose
from deploycheck.config.errors import ConfigError
from deploycheck.config.loader import load_environment
from deploycheck.config.schema import SCHEMA_FILE, schema_text
from deploycheck.config.types import Port, Section
from deploycheck.evidence.registry import Kind, KindRegistry


class Tcp(Section):
    """The port a TCP check connects to."""

    port: Port = Field(description="the port that must accept connections")


TCP_KIND = Kind(
    "tcp",
    ("team_tcp",),
    ("tcp",),
    ("port_open",),
    config=(compose.PluggedSection("tcp", Tcp, description="its TCP port"),),
    origin="a test",
)


@pytest.fixture
def tcp_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compose, "PLUGGED", {})
    KindRegistry().add(TCP_KIND)


def write(tmp_path, port: object) -> None:
    (tmp_path / "staging.yaml").write_text(
        dedent(f"""\
        environment: staging
        services:
          api: {{url: "http://127.0.0.1:8080", tcp: {{port: {port}}}}}
          web: {{url: "http://127.0.0.1:8081"}}
        """)
    )


def test_a_plugged_section_is_validated_and_read(tcp_kind, tmp_path) -> None:
    write(tmp_path, 5432)
    environment = load_environment(tmp_path, "staging", environ={})

    assert environment.services["api"].section("tcp") == Tcp(port=5432)
    assert environment.services["web"].section("tcp") is None
    assert "tcp" in environment.services["api"].configured_sections()


def test_a_wrong_value_in_a_plugged_section_names_its_key(tcp_kind, tmp_path) -> None:
    write(tmp_path, '"not a port"')
    with pytest.raises(ConfigError) as raised:
        load_environment(tmp_path, "staging", environ={})
    assert "services.api.tcp.port" in str(raised.value)


def test_a_plugged_section_is_in_the_schema(tcp_kind) -> None:
    schema = json.loads(schema_text())
    service = schema["$defs"]["ServiceSpec"]["properties"]
    assert service["tcp"]["description"] == "its TCP port"
    assert schema["$defs"]["Tcp"]["properties"]["port"]["description"] == "the port that must accept connections"


def test_without_plugged_sections_the_schema_is_the_committed_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compose, "PLUGGED", {})
    assert schema_text() == SCHEMA_FILE.read_text(encoding="utf-8")


def test_a_kind_from_outside_cannot_take_a_section_of_the_suite(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compose, "PLUGGED", {})
    with pytest.raises(ValueError, match="the suite's own"):
        compose.plug(compose.PluggedSection("metrics", Tcp))
