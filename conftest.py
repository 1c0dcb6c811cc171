"""deploycheck's pytest plugins, one per role (see docs/architecture.md)."""

pytest_plugins = ["plugins.options", "plugins.targets", "plugins.checks", "plugins.verdict"]
