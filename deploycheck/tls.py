"""One TLS trust rule for every HTTP client of the suite: the probes, the flows, the metric scrapes, Prometheus and
Alertmanager, and the webhooks.

What is trusted, first that applies: the section's `tls.ca_file`; else `$SSL_CERT_FILE`; else
`$REQUESTS_CA_BUNDLE`; else certifi's bundle of public CAs. A file or a directory of hashed certificates (as
`c_rehash` makes) is allowed wherever a bundle is. `verify: false` checks no certificate (the verdict says so);
`cert_file` / `key_file` present a client certificate (mTLS). `ssl_context` builds the `ssl.SSLContext` for the
clients that take one (the HTTP probes, httpx for flows); `requests_verify` gives the same trust to requests
(Prometheus), which takes a path.
"""

from __future__ import annotations

import functools
import os
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import certifi

T = TypeVar("T")
_SSL_DECORATION = re.compile(r"^\[[^\]]*\]\s*|\s*\(_ssl\.c:\d+\)$")


@dataclass(frozen=True)
class TlsOptions:
    ca_file: str | None = None  # a CA bundle to trust (a private CA); else SSL_CERT_FILE, REQUESTS_CA_BUNDLE, certifi
    cert_file: str | None = None  # client certificate (mTLS)
    key_file: str | None = None  # its key, when not in cert_file
    verify: bool = True


class TlsFileError(ValueError):
    """A CA bundle or client certificate that cannot be used; its message is one line in plain words."""


def options(section: Any) -> TlsOptions:
    """The options of a configuration's `tls:` section (a service's, or an API's, which has no client certificate)."""
    if section is None:
        return TlsOptions()

    def path(name: str) -> str | None:
        value = getattr(section, name, None)
        return str(value) if value is not None else None

    return TlsOptions(path("ca_file"), path("cert_file"), path("key_file"), bool(getattr(section, "verify", True)))


def trusted(tls: TlsOptions) -> str:
    """The CA bundle (or directory) these options trust, by the rule above."""
    environ = os.environ
    return tls.ca_file or environ.get("SSL_CERT_FILE") or environ.get("REQUESTS_CA_BUNDLE") or certifi.where()


def requests_verify(tls: TlsOptions) -> bool | str:
    """requests' `verify` for these options: False, or the path of what is trusted."""
    return trusted(tls) if tls.verify else False


def ssl_context(tls: TlsOptions) -> ssl.SSLContext:
    """The client SSL context for these options, built once per process and trust (loading a CA bundle takes tens of
    ms, which hundreds of clients at once would each pay). Raises TlsFileError for a file it cannot use."""
    return _cached_context(tls, trusted(tls) if tls.verify else "")


@functools.lru_cache(maxsize=64)
def _cached_context(tls: TlsOptions, trusted_path: str) -> ssl.SSLContext:
    if tls.verify:
        context = _load(trusted_path, "CA file", lambda: _verifying_context(trusted_path))
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if tls.cert_file:
        cert_file = tls.cert_file
        _load(cert_file, "client certificate", lambda: context.load_cert_chain(cert_file, tls.key_file))
    context.set_alpn_protocols(["http/1.1"])
    return context


def _verifying_context(trusted_path: str) -> ssl.SSLContext:
    if os.path.isdir(trusted_path):
        return ssl.create_default_context(capath=trusted_path)
    return ssl.create_default_context(cafile=trusted_path)


def _load(path: str, what: str, load: Callable[[], T]) -> T:
    try:
        return load()
    except (OSError, ValueError) as exc:
        if isinstance(exc, ssl.SSLError):
            reason = ssl_reason(exc)
        else:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise TlsFileError(f"TLS: cannot use {what} {path}: {reason}") from None


def failure(exc: BaseException) -> str | None:
    """ "TLS: <reason>" when an SSL error caused `exc` (a client's connect error wraps it), else None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return f"TLS: {ssl_reason(current)}"
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def ssl_reason(exc: ssl.SSLError) -> str:
    """An SSL error in plain words: "certificate verify failed: self-signed certificate"."""
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
        return f"certificate verify failed: {exc.verify_message}"
    text = exc.strerror if isinstance(exc.strerror, str) and exc.strerror else str(exc)
    return _SSL_DECORATION.sub("", text) or type(exc).__name__
