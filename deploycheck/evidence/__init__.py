"""The kind-agnostic seam: `Evidence` (base), `Probe` and the request protocol (probe), the kinds, probes and
sessions by name (registry), and the store that gathers every wanted probe at once (store).

This package's names are imported on first use, so that importing one of its modules imports no other.
`deploycheck.evidence.http_get`, `tls_options` and `KINDS` are the old module's names, kept for one release."""

from __future__ import annotations

import importlib
from typing import Any

from deploycheck.moved import moved_name

_PUBLIC = {
    "Evidence": "base",
    "Probe": "probe",
    "ProbeKey": "probe",
    "GatherSettings": "probe",
    "NotConfigured": "probe",
    "Request": "probe",
    "Fetcher": "probe",
    "Kind": "registry",
    "KindRegistry": "registry",
    "PROBES": "registry",
    "SESSIONS": "registry",
    "REGISTRY": "registry",
    "register": "registry",
    "register_session": "registry",
    "EvidenceStore": "store",
}
_MOVED = {
    "KINDS": ("deploycheck.evidence.registry", "SESSIONS"),
    "http_get": ("deploycheck.kinds.http.session", "http_get"),
    "tls_options": ("deploycheck.kinds.http.session", "tls_options"),
}


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(f"{__name__}.{_PUBLIC[name]}"), name)
    if name in _MOVED:
        return moved_name(f"{__name__}.{name}", *_MOVED[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
