"""deploycheck, the engine: free of pytest. docs/architecture.md maps its packages."""

from deploycheck import moved

moved.install()  # old module paths (deploycheck.judge, deploycheck.probes.http, ...) until deploycheck 2.0
