"""Bad input is refused before any check runs: a usage error (exit 4) that names the file, the key and the fix."""

from __future__ import annotations

import pytest

from tests.conftest import REPO, write_environment

GOOD = {"api-gateway": {"url": "http://127.0.0.1:9"}}


ALIAS_BOMB = (
    "environment: staging\nservices: {api-gateway: {url: 'http://127.0.0.1:9'}}\nx0: &a0 [x, x, x, x, x, x, x, x, x]\n"
    + "".join(f"x{level}: &a{level} [{', '.join([f'*a{level - 1}'] * 9)}]\n" for level in range(1, 10))
)
SEVERAL_ERRORS = """\
environment: staging
prometheus: {url: "ftp://prometheus"}
services:
  api-gateway: {url: "http://127.0.0.1:9", timeout: .nan, helth: {}}
  payments: {url: "http://127.0.0.1:70000"}
"""


@pytest.mark.parametrize(
    ("content", "args", "expected"),
    [
        (None, ["--env", "nowhere"], ["nowhere.yaml: no such environment 'nowhere' (environments in"]),
        ("services: [\n", ["--env", "staging"], ["staging.yaml:2:1: invalid YAML: did not find expected node content"]),
        (
            {"environment": "staging", "services": {"api-gateway": {"health": {"path": "/h"}}}},
            ["--env", "staging"],
            ["staging.yaml:3:3: services.api-gateway.url: missing: the base URL of the service"],
        ),
        (
            {"environment": "staging", "services": {"api-gateway": {"url": "http://x", "helth": {}}}},
            ["--env", "staging"],
            ["staging.yaml:4:5: services.api-gateway.helth: unknown key (allowed here: url, timeout"],
        ),
        (
            {"environment": "staging", "services": {"api-gateway": {"url": "${GW_URL_UNSET}"}}},
            ["--env", "staging"],
            ["staging.yaml:4:5: services.api-gateway.url: ${GW_URL_UNSET} is not set: export GW_URL_UNSET="],
        ),
        (
            {"environment": "staging", "services": GOOD},
            ["--env", "staging", "--service", "payments"],
            ["staging.yaml:2:1: services: no service 'payments' in this environment (configured: api-gateway)"],
        ),
        (
            {"environment": "production", "services": GOOD},
            ["--env", "staging"],
            ["staging.yaml:1:1: environment: must be 'staging' (the file's name), found 'production'"],
        ),
        (
            {"environment": "staging", "services": {"api-gateway": {"url": "http://x", "timeout": "soon"}}},
            ["--env", "staging"],
            ["services.api-gateway.timeout: expected a duration like 30s, 2m or 500ms, found 'soon'"],
        ),
        (
            SEVERAL_ERRORS,
            ["--env", "staging"],
            [
                "4 problems in ",
                "staging.yaml:2:14: prometheus.url: must start with http:// or https://, found 'ftp://prometheus'",
                "staging.yaml:4:44: services.api-gateway.timeout: expected a duration like 30s, 2m or 500ms",
                "staging.yaml:4:59: services.api-gateway.helth: unknown key (allowed here: url, timeout",
                "staging.yaml:5:14: services.payments.url: the port must be a number from 1 to 65535",
            ],
        ),
        (ALIAS_BOMB, ["--env", "staging"], ["staging.yaml:3:", "the document expands to more than 100,000 values"]),
        (
            "environment: staging\n" + "#" * 10_000_000 + "\n",
            ["--env", "staging"],
            ["staging.yaml: the file is larger than 1,000,000 bytes"],
        ),
        (
            b"environment: staging\nservices: {api-gateway: {url: 'http://caf\xe9'}}\n",
            ["--env", "staging"],
            ["staging.yaml:2:42: not UTF-8 text (byte 0xe9 cannot be decoded): save the file as UTF-8"],
        ),
    ],
    ids=[
        "unknown-env",
        "yaml-syntax",
        "missing-url",
        "unknown-key",
        "unset-variable",
        "unknown-service",
        "wrong-environment-name",
        "bad-duration",
        "several-errors",
        "alias-bomb",
        "10-mb-file",
        "not-utf8",
    ],
)
def test_bad_configuration_is_a_usage_error(run_suite, tmp_path, content, args, expected):
    environments = tmp_path / "environments"
    environments.mkdir()
    if isinstance(content, bytes):
        (environments / "staging.yaml").write_bytes(content)
    elif isinstance(content, str):
        (environments / "staging.yaml").write_text(content)
    elif content is not None:
        import yaml

        (environments / "staging.yaml").write_text(yaml.safe_dump(content))
    run = run_suite(environments, *args)

    assert run.ret == 4, run.stdout
    for line in expected:
        assert line in run.stdout
    assert "--env" in run.stdout  # says which option chose the file
    assert "Traceback" not in run.stdout
    assert run.verdict is None  # nothing ran, so nothing was judged


def test_an_unset_variable_a_selected_check_needs_is_a_usage_error_said_first(run_suite, tmp_path, workers):
    """Found at collection, where xdist's workers collect and its controller does not: -n 2 exits as serial does."""
    services = {"api-gateway": {"url": "http://127.0.0.1:9", "database": {"dsn": "${DEPLOYCHECK_TEST_UNSET_DSN}"}}}
    environments = write_environment(tmp_path / "environments", "staging", services)
    run = run_suite(environments, "--env", "staging", workers=workers)

    why = (
        "services.api-gateway.database: ${DEPLOYCHECK_TEST_UNSET_DSN} is not set, and the check of `database` "
        "needs it: export it before running, or deselect that check"
    )
    assert run.ret == 4, run.stdout
    assert "INTERNALERROR" not in run.stdout and "Interrupted" not in run.stdout, run.stdout
    said = [line for line in run.stdout.splitlines() if why in line or "not run" in line or "not judged" in line]
    assert said and why in said[0], run.stdout  # its message first, before what did not run
    assert run.verdict is not None and run.verdict["exit_status"] == 4, run.stdout
    assert (
        f"the run stopped before its end (USAGE_ERROR): {environments / 'staging.yaml'}: {why}"
        in run.verdict["reasons"]
    )


def test_hostile_files_are_refused_quickly(tmp_path):
    """In process, timed: the whole suite's start-up would hide how long the file itself takes."""
    import time

    from deploycheck.config.loader import ConfigError, load_environment

    for content in (ALIAS_BOMB, "environment: staging\n" + "#" * 10_000_000 + "\n", "x: '" + "a" * 900_000 + "'\n"):
        (tmp_path / "staging.yaml").write_text(content)
        started = time.perf_counter()
        with pytest.raises(ConfigError):
            load_environment(tmp_path, "staging", environ={})
        assert time.perf_counter() - started < 2.0


def test_bad_option_value_names_option_and_source(run_suite, tmp_path, monkeypatch):
    environments = write_environment(tmp_path / "environments", "staging", GOOD)
    monkeypatch.setenv("DEPLOYCHECK_WAIT_READY", "forever")
    run = run_suite(environments, "--env", "staging")
    assert run.ret == 4
    assert "--wait-ready (from $DEPLOYCHECK_WAIT_READY): expected a duration like 30s" in run.stdout


def test_list_services_shows_the_configuration_without_running(run_suite):
    run = run_suite(REPO / "environments", "--env", "production", "--list-services")
    assert run.ret == 0, run.stdout
    assert "api-gateway" in run.stdout and "https://api.example.com" in run.stdout
    assert "payments" in run.stdout and "flows: process_payment" in run.stdout
    assert run.verdict is None


@pytest.mark.parametrize("name", ["local", "dev", "staging", "production"])
def test_bundled_environment_files_are_valid(name):
    from deploycheck.config.loader import load_environment

    environ = {"PROMETHEUS_TOKEN": "prometheus-token", "API_GATEWAY_DB_DSN": "postgresql://app:pw@db/app"}
    environment = load_environment(REPO / "environments", name, environ=environ)
    assert environment.name == name
    assert "api-gateway" in environment.services


def test_a_check_asking_for_an_unknown_probe_is_inconclusive(run_suite, pytester, tmp_path):
    environments = write_environment(tmp_path / "environments", "staging", GOOD)
    pytester.makeconftest((REPO / "conftest.py").read_text())
    check = pytester.makepyfile(
        test_typo="""
        def test_liveness(target, helth, verify):
            pass
    """
    )
    run = run_suite(environments, "--env", "staging", checks=[check])
    assert run.ret == 6, run.stdout
    assert run.outcomes() == {("api-gateway", "typo.liveness"): "inconclusive"}
    assert "fixture 'helth' not found" in run.verdict["reasons"][0]
