"""One TLS trust rule for every HTTP client of the suite (issue 20, section 8): a service, a real Prometheus and a
webhook, all behind a private CA. With `SSL_CERT_FILE` naming the CA, the health probe, a declared flow, the alert
check's Prometheus query and the webhook all get through; without it, each one fails on the certificate and says so
(a flow used to ignore `SSL_CERT_FILE`: it passed health and failed every flow); with a CA file that is not there,
each one says that."""

from __future__ import annotations

import pytest

from tests.conftest import REPO, write_environment
from tests.prometheus_server import ServerTls

pytest_plugins = ["tests.hostile_servers", "tests.prometheus_server"]

UNTRUSTED = "TLS: certificate verify failed"
FLOWS = {"echo": {"steps": [{"name": "read", "path": "/items", "expect": {"fields": {"method": "GET"}}}]}}


@pytest.mark.parametrize("trusted", [True, False, "missing"], ids=["SSL_CERT_FILE", "untrusted", "missing"])
def test_probes_flows_prometheus_and_webhooks_trust_alike(
    trusted, tls_server, tls_files, prometheus_factory, run_suite, tmp_path, workers, monkeypatch
):
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    if trusted:
        monkeypatch.setenv("SSL_CERT_FILE", tls_files.ca_file if trusted is True else str(tmp_path / "gone.pem"))
    prometheus = prometheus_factory({}, tls=ServerTls(tls_files.server_chain, tls_files.server_key, tls_files.ca_file))
    # The TLS server echoes every request as JSON ({"method": "GET", ...}): that is its health and the flow's answer.
    health = {"path": "/health", "expect": {"method": "GET"}}
    hook = {"url": f"{tls_server.url}/hook", "verdicts": ["PASS", "FAIL", "INCONCLUSIVE"]}
    environments = write_environment(
        tmp_path / "environments",
        "staging",
        {"secure": {"url": tls_server.url, "flows": ["echo"]}},
        defaults={"timeout": "3s", "health": health},
        prometheus={"url": prometheus.url},
        notifications={"webhooks": [hook]},
        declared_flows=FLOWS,
    )
    run = run_suite(
        environments, "--env", "staging", "-k", "liveness or flows or alerts",
        workers=workers, checks=[REPO / "checks", REPO / "smoke"],
    )  # fmt: skip

    assert run.verdict is not None, run.stdout
    findings = {finding["check"]: finding for finding in run.verdict["services"]["secure"]["findings"]}
    health, flow, alerts = (findings[check] for check in ("health.liveness", "flows.echo", "alerts.no_critical_firing"))
    (notified,) = run.verdict["notifications"]
    if trusted == "missing":  # a CA file that is not there: every client says so, in the same words
        assert (health["outcome"], alerts["outcome"], notified["sent"]) == ("failed", "inconclusive", False)
        assert flow["outcome"] != "passed"
        for said in (health["message"], flow["message"], alerts["message"], notified["error"]):
            assert "TLS: cannot use CA file" in said, said
    elif trusted:
        assert (health["outcome"], flow["outcome"]) == ("passed", "passed"), run.stdout
        assert "could not be read" not in alerts["message"], alerts  # Prometheus answered over TLS
        assert notified["sent"] is True, notified
    else:
        assert (health["outcome"], flow["outcome"], alerts["outcome"]) == ("failed", "failed", "inconclusive")
        for said in (health["message"], flow["message"], alerts["message"], notified["error"]):
            assert UNTRUSTED in said, said
        assert notified["sent"] is False
