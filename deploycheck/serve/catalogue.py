"""Which environments and services `deploycheck serve` may start a run for: those its environment files configure.

A name that is not there is answered 404 without starting anything, so made-up names cannot start processes. Each
file's service names are read once and read again only when the file changes (its size, time or inode)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from deploycheck.config.loader import ConfigError, environment_file
from deploycheck.config.yaml_safe import read_yaml


class UnknownName(LookupError):
    pass


@dataclass(frozen=True)
class _Read:
    stamp: tuple[int, int, int]  # st_mtime_ns, st_size, st_ino
    services: frozenset[str]


class Catalogue:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._read: dict[str, _Read] = {}

    def check(self, env: str, service: str) -> None:
        """UnknownName if `env` has no file or its file no such service; ConfigError if the file cannot be read."""
        if service not in self.services(env):
            raise UnknownName(f"no service {service!r} in environment {env!r}")

    def services(self, env: str) -> frozenset[str]:
        path = environment_file(self.directory, env)
        try:
            status = path.stat()
        except OSError:
            raise UnknownName(f"no environment {env!r}") from None
        stamp = (status.st_mtime_ns, status.st_size, status.st_ino)
        with self._lock:  # one reader per change, however many requests arrive at once
            known = self._read.get(env)
            if known is None or known.stamp != stamp:
                data = read_yaml(path).data
                services = data.get("services") if isinstance(data, dict) else None
                if not isinstance(services, dict):
                    raise ConfigError(path, "services", "must be a mapping of service names")
                known = self._read[env] = _Read(stamp, frozenset(str(name) for name in services))
            return known.services
