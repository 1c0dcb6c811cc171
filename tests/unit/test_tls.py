"""The one TLS trust rule (deploycheck.tls): what each client trusts, first that applies."""

import ssl

import certifi
import pytest

from deploycheck import tls
from deploycheck.tls import TlsFileError, TlsOptions


@pytest.fixture(autouse=True)
def no_trust_variables(monkeypatch):
    for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)


def test_ca_file_then_ssl_cert_file_then_requests_ca_bundle_then_certifi(monkeypatch):
    assert tls.trusted(TlsOptions()) == certifi.where()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/bundle.pem")
    assert tls.trusted(TlsOptions()) == "/bundle.pem"
    monkeypatch.setenv("SSL_CERT_FILE", "/cert-file.pem")
    assert tls.trusted(TlsOptions()) == "/cert-file.pem"
    assert tls.trusted(TlsOptions(ca_file="/service-ca.pem")) == "/service-ca.pem"


def test_requests_gets_the_same_trust_and_verify_false_switches_it_off(monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", "/cert-file.pem")
    assert tls.requests_verify(TlsOptions()) == "/cert-file.pem"
    assert tls.requests_verify(TlsOptions(ca_file="/ca.pem", verify=False)) is False
    context = tls.ssl_context(TlsOptions(verify=False))
    assert context.verify_mode == ssl.CERT_NONE and not context.check_hostname


def test_a_context_is_built_once_per_trust_and_follows_the_environment(monkeypatch, tmp_path):
    first = tls.ssl_context(TlsOptions())
    assert tls.ssl_context(TlsOptions()) is first and first.verify_mode == ssl.CERT_REQUIRED
    missing = tmp_path / "missing.pem"
    monkeypatch.setenv("SSL_CERT_FILE", str(missing))
    with pytest.raises(TlsFileError, match=f"TLS: cannot use CA file {missing}: No such file"):
        tls.ssl_context(TlsOptions())


def test_a_configuration_section_becomes_options():
    class Section:
        ca_file, cert_file, key_file, verify = "/ca.pem", None, None, False

    assert tls.options(Section()) == TlsOptions(ca_file="/ca.pem", verify=False)
    assert tls.options(None) == TlsOptions()
