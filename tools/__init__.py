"""Developer tooling for deploycheck (not part of the installed package)."""
