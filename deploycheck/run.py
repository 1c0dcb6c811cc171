"""One run of the suite against one environment: its services (started first if the demo provides them) and
the evidence gathered for them. Free of pytest, so a CLI or a watch loop can drive it the same way."""

from __future__ import annotations

from deploycheck import demo
from deploycheck.config import Environment
from deploycheck.evidence import EvidenceStore, GatherSettings


class Run:
    def __init__(self, environment: Environment, settings: GatherSettings) -> None:
        self.configured = environment
        self.settings = settings
        self._demo: demo.RunningDemo | None = None
        self._evidence: EvidenceStore | None = None
        self._failure: demo.DemoError | None = None

    @property
    def evidence(self) -> EvidenceStore:
        """The evidence store, over services that all have URLs (starting the demo on first use).

        Raises DemoError, every time, if the demo could not start: each check then reports it (inconclusive)."""
        if self._failure is not None:
            raise self._failure
        if self._evidence is None:
            environment = self.configured
            missing = environment.unstarted()
            if missing:
                assert environment.demo is not None  # the loader only leaves demo services without a URL
                try:
                    self._demo = demo.start(environment.demo, missing)
                except demo.DemoError as error:
                    self._failure = error
                    raise
                environment = environment.with_urls(self._demo.urls)
            self._evidence = EvidenceStore(environment, self.settings)
        return self._evidence

    def close(self) -> None:
        if self._demo is not None:
            self._demo.stop()
            self._demo = None
