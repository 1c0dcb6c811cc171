"""deploycheck's pytest plugins (see docs/architecture.md). Installed, the `pytest11` entry point has loaded them
before this file; from a plain checkout (or with plugin autoloading off) this loads them."""

import sys

pytest_plugins = [] if "deploycheck_plugins.plugin" in sys.modules else ["deploycheck_plugins.plugin"]
