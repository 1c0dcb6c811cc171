from __future__ import annotations

import pytest
import yaml

from deploycheck.config import ConfigError, Endpoint, Overrides, load_environment, parse_duration
from deploycheck.secrets import Secret


def write(tmp_path, document):
    (tmp_path / f"{document['environment']}.yaml").write_text(yaml.safe_dump(document))
    return tmp_path


def test_layers_defaults_then_service_then_command_line(tmp_path):
    directory = write(
        tmp_path,
        {
            "environment": "staging",
            "defaults": {"timeout": "2s", "health": {"path": "/health", "expect": {"status": "healthy"}}},
            "services": {
                "a": {"url": "http://a/"},
                "b": {"url": "http://b", "timeout": "500ms", "health": {"path": "/v1/health"}},
                "c": {"url": "http://c", "health": None},
            },
        },
    )
    environment = load_environment(directory, "staging", environ={})
    a, b, c = (environment.services[name] for name in "abc")
    assert (a.url, a.timeout_s, a.health) == (
        "http://a",
        2.0,
        Endpoint("/health", 200, {"status": "healthy"}),
    )
    assert (b.timeout_s, b.health) == (0.5, Endpoint("/v1/health", 200, {"status": "healthy"}))
    assert c.health is None  # an explicit null switches a default section off
    overridden = load_environment(directory, "staging", overrides=Overrides(timeout_s=9.0), environ={})
    assert {service.timeout_s for service in overridden.services.values()} == {9.0}


def test_variables_resolve_and_secret_keys_become_secrets(tmp_path):
    directory = write(
        tmp_path,
        {
            "environment": "production",
            "prometheus": {"url": "${PROM_URL:-http://prometheus:9090}", "token": "${PROM_TOKEN}"},
            "services": {"api": {"url": "https://${HOST}", "database": {"dsn": "${DB_DSN}"}}},
        },
    )
    environ = {"PROM_TOKEN": "tok-123456", "HOST": "api.example.com", "DB_DSN": "postgresql://u:pw@db/app"}
    environment = load_environment(directory, "production", environ=environ)
    assert environment.services["api"].url == "https://api.example.com"
    assert environment.sections["prometheus"]["url"] == "http://prometheus:9090"
    token = environment.sections["prometheus"]["token"]
    assert isinstance(token, Secret) and token.reveal() == "tok-123456" and str(token) == "***"
    assert {secret.reveal() for secret in environment.secrets} == {"tok-123456", "postgresql://u:pw@db/app"}


def test_only_selected_services_need_their_variables(tmp_path):
    directory = write(
        tmp_path,
        {
            "environment": "dev",
            "services": {"a": {"url": "http://a"}, "b": {"url": "${B_URL}"}},
        },
    )
    assert list(load_environment(directory, "dev", ["a"], environ={}).services) == ["a"]
    with pytest.raises(ConfigError, match=r"services\.b\.url: \$\{B_URL\} is not set"):
        load_environment(directory, "dev", environ={})


def test_demo_services_get_their_url_when_started(tmp_path):
    directory = write(tmp_path, {"environment": "local", "demo": {}, "services": {"orders": {}}})
    environment = load_environment(directory, "local", environ={})
    assert environment.unstarted() == ["orders"]
    started = environment.with_urls({"orders": "http://127.0.0.1:1234/"})
    assert started.services["orders"].url == "http://127.0.0.1:1234" and started.unstarted() == []


def test_severity_must_be_known(tmp_path):
    directory = write(
        tmp_path, {"environment": "dev", "services": {"a": {"url": "http://a", "severity": {"x": "meh"}}}}
    )
    with pytest.raises(ConfigError, match=r"services\.a\.severity\.x: must be one of critical, warning"):
        load_environment(directory, "dev", environ={})


def test_severity_applies_to_a_check_or_its_group(tmp_path):
    directory = write(
        tmp_path,
        {
            "environment": "dev",
            "services": {"a": {"url": "http://a", "severity": {"version": "warning", "health.readiness": "warning"}}},
        },
    )
    service = load_environment(directory, "dev", environ={}).services["a"]
    assert service.severity_of("version.matches_expected") == "warning"
    assert service.severity_of("health.readiness") == "warning"
    assert service.severity_of("health.liveness") == "critical"


def test_service_repr_hides_url_passwords():
    from deploycheck.config import Service

    assert "s3cret" not in repr(Service("a", "http://u:s3cret@host", 1.0))


@pytest.mark.parametrize(("text", "seconds"), [("120s", 120), ("2m", 120), ("500ms", 0.5), ("1h", 3600), (3, 3)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "-1s", "1d", True])
def test_bad_durations(text):
    with pytest.raises(ConfigError, match="expected a duration"):
        parse_duration(text)
