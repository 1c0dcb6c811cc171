"""One run of the suite against one environment: its services (started first if the demo provides them) and
the evidence gathered for them. Free of pytest, so a CLI or a watch loop can drive it the same way.

Under pytest-xdist the controller starts the demo once (`start_demo`) and hands its URLs to the workers, and the
workers share one evidence store through a directory: a run is one demo and one set of requests, whatever `-n`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from deploycheck import demo
from deploycheck.config.loader import Environment
from deploycheck.evidence.probe import GatherSettings
from deploycheck.evidence.store import EvidenceStore


class Run:
    def __init__(
        self,
        environment: Environment,
        settings: GatherSettings,
        shared_dir: Path | None = None,
        demo_urls: Mapping[str, str] | None = None,
        demo_error: str | None = None,
    ) -> None:
        self.configured = environment.with_urls(demo_urls) if demo_urls else environment
        self.settings = settings
        self.shared_dir = shared_dir
        self._demo: demo.RunningDemo | None = None
        self._evidence: EvidenceStore | None = None
        self._failure: demo.DemoError | None = demo.DemoError(demo_error) if demo_error else None

    def start_demo(self) -> Mapping[str, str]:
        """Start the demo for the services that need it (once); their URLs. Raises DemoError if it cannot start."""
        if self._failure is not None:
            raise self._failure
        missing = self.configured.unstarted()
        if missing:
            assert self.configured.demo is not None  # the loader only leaves demo services without a URL
            try:
                self._demo = demo.start(self.configured.demo, missing)
            except demo.DemoError as error:
                self._failure = error
                raise
            self.configured = self.configured.with_urls(self._demo.urls)
        return {name: service.url for name, service in self.configured.services.items()}

    @property
    def evidence(self) -> EvidenceStore:
        """The evidence store, over services that all have URLs (starting the demo on first use).

        Raises DemoError, every time, if the demo could not start: each check then reports it (inconclusive)."""
        if self._evidence is None:
            self.start_demo()
            self._evidence = EvidenceStore(self.configured, self.settings, self.shared_dir)
        return self._evidence

    def close(self) -> None:
        if self._demo is not None:
            self._demo.stop()
            self._demo = None
