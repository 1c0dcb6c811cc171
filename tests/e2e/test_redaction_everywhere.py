"""Redaction, proved: known secret values planted in the configuration (a bearer header, a token, a password in a
URL, a DSN, a webhook's token and bearer header) and echoed back in a service's answers, a run with every report on,
and then no file under the reports folder, no Allure result or attachment, no HTML report (its embedded data
decoded), no webhook body and no line of the terminal holds any of them."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.conftest import write_environment
from tests.processes import ALLURE, unavailable

pytest_plugins = ["tests.webhook_receiver"]

SECRETS = {
    "DC_API_TOKEN": "tok-9f8e7d6c5b4a3921",
    "DC_URL_PASSWORD": "urlpw-Lantern-5531",
    "DC_DB_PASSWORD": "dbpw-Quartz-Harbor-42",
    "DC_DSN": "postgresql://app:dsnpw-Hidden-Meadow-77@127.0.0.1:1/app",
    "DC_PROM_TOKEN": "promtok-Velvet-Orbit-08",
    "DC_HOOK_TOKEN": "hooktok-Amber-Falcon-19",
    "DC_HOOK_BEARER": "hookbearer-Copper-Tide-63",
}
# What must never show: every value, and the password inside the DSN on its own.
FORBIDDEN = [*SECRETS.values(), "dsnpw-Hidden-Meadow-77"]


@pytest.fixture
def leaky_service() -> Iterator[str]:
    """A service that echoes what it was sent and the secrets it knows: a broken health body, a version field."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            leaked = {
                "authorization": self.headers.get("Authorization", ""),
                "password": SECRETS["DC_DB_PASSWORD"],
                "dsn": SECRETS["DC_DSN"],
                "note": f"token {SECRETS['DC_API_TOKEN']} and {SECRETS['DC_PROM_TOKEN']}",
            }
            if self.path == "/version":
                body: dict[str, Any] = {"version": f"v9-{SECRETS['DC_API_TOKEN']}"}
            elif self.path == "/health":
                body = {"status": "degraded", **leaked}
            else:
                body = {"ready": True, **leaked}
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def texts_of(path: Path) -> list[str]:
    """A file's text, and for a single-file Allure report also every data file it embeds (base64)."""
    text = path.read_bytes().decode("utf-8", errors="replace")
    embedded = re.findall(r"d\('[\w/.-]+','([A-Za-z0-9+/=]*)'\)", text)
    return [text, *(base64.b64decode(data).decode("utf-8", errors="replace") for data in embedded)]


def leaks(text: str) -> list[str]:
    return [secret for secret in FORBIDDEN if secret in text or quote(secret, safe="") in text]


def test_no_secret_reaches_any_report(leaky_service, receiver, run_suite, tmp_path, workers, monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    reports = tmp_path / "reports"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(reports / "step-summary.md"))
    reports.mkdir()
    service = {
        "url": f"http://smoke:${{DC_URL_PASSWORD}}@{leaky_service}",
        "headers": {"Authorization": "Bearer ${DC_API_TOKEN}"},
        "database": {"dsn": "${DC_DSN}"},
    }
    hook = {
        "url": f"{receiver.url}/hook?token=${{DC_HOOK_TOKEN}}",
        "headers": {"Authorization": "Bearer ${DC_HOOK_BEARER}"},
    }
    environments = write_environment(
        tmp_path / "environments",
        "staging",
        {"shop": service},
        prometheus={"url": "http://127.0.0.1:9", "username": "ops", "password": "${DC_DB_PASSWORD}"},
        alertmanager={"url": "http://127.0.0.1:9", "token": "${DC_PROM_TOKEN}"},
        notifications={"webhooks": [hook]},
    )
    run = run_suite(
        environments,
        "--env", "staging", "--expected-version", "v2.3.1", "-k", "health or version", "-l", "-rA",
        "--alluredir", str(reports / "allure-results"), "--junitxml", str(reports / "junit.xml"),
        "--summary-file", str(reports / "summary.md"), "--metrics-file", str(reports / "deploycheck.prom"),
        workers=workers,
    )  # fmt: skip

    # The run really saw the secrets: the service failed on the answers that hold them, and the webhook was called.
    assert run.ret == 1, run.stdout
    assert run.verdict is not None
    outcomes = run.outcomes()
    assert (outcomes[("shop", "health.liveness")], outcomes[("shop", "version.matches_expected")]) == ("failed",) * 2
    assert receiver.received[0]["headers"]["Authorization"] == f"Bearer {SECRETS['DC_HOOK_BEARER']}"
    generate_html_report(reports)

    scanned = {path: texts_of(path) for path in sorted(reports.rglob("*")) if path.is_file()}
    assert len([p for p in scanned if p.name.endswith("-attachment.txt")]) >= 4  # the evidence was attached
    found = {str(path): leaks(text) for path, texts in scanned.items() for text in texts if leaks(text)}
    others = {
        "terminal": run.stdout,
        "verdict.json": json.dumps(run.verdict),
        "webhook": json.dumps([r["body"] for r in receiver.received]),
    }
    found.update({name: leaks(text) for name, text in others.items() if leaks(text)})
    assert found == {}


def _path() -> dict[str, str]:
    import os

    return {key: value for key, value in os.environ.items() if key in ("PATH", "HOME", "JAVA_HOME")}


def generate_html_report(reports: Path) -> None:
    """The HTML report, as `run_smoke_tests.sh --html` generates it with the real Allure command line."""
    if ALLURE is None:
        unavailable("no Allure command line (scripts/install_allure.sh installs it)", "DEPLOYCHECK_REQUIRE_ALLURE")
    generated = subprocess.run(
        [ALLURE, "generate", "--single-file", "--clean", "-o", str(reports / "allure-report"),
         str(reports / "allure-results")],
        capture_output=True, text=True, timeout=180, check=False, env={"ALLURE_NO_ANALYTICS": "true", **_path()},
    )  # fmt: skip
    assert generated.returncode == 0, generated.stdout + generated.stderr
    assert len(texts_of(reports / "allure-report" / "index.html")) > 20  # its data, embedded
