"""deploycheck's pytest plugins, one per role (see docs/architecture.md)."""

pytest_plugins = [
    "deploycheck_plugins.options",
    "deploycheck_plugins.targets",
    "deploycheck_plugins.checks",
    "deploycheck_plugins.redaction",
    "deploycheck_plugins.outputs",
    "deploycheck_plugins.verdict",
]
