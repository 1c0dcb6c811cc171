"""Bundled demo services for deploycheck; run with `python -m demo --help`."""
