"""One package per kind of evidence, all alike: session.py (the client), probes.py (registers its probes and
session), rules.py (judges its evidence: `rule(evidence, section, ...) -> Finding`), config.py (its sections).

Kinds are registered by name in `deploycheck.evidence.registry` and imported only when a run needs them. A kind
never imports another, except the shared HTTP transport, `deploycheck.kinds.http.session`, which the metrics kind's
scrapes and Prometheus client use (import-linter keeps this true)."""
