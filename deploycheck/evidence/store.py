"""Evidence gathered up front: every probe the selected checks need, for every selected service, all at once.

A probe is a named piece of evidence ("health", "version"; `probe.py`), registered by its kind (`registry.py`).
The store plans every wanted probe, gathers them together on one asyncio loop (a blocking client runs its calls
in threads inside its kind's session) and hands each check its piece. Judgement stays in each kind's `rules.py`;
a probe's `--wait-ready` rule borrows it, but sessions never judge.

Under pytest-xdist the store is shared through a directory: the first process that needs evidence gathers the
whole plan under a file lock and writes it; the others read it. So each probe is requested once per run.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import pickle
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from deploycheck.config.environment import Environment
from deploycheck.evidence.base import Evidence
from deploycheck.evidence.probe import Fetcher, GatherSettings, NotConfigured, Probe, ProbeKey, deadline_of
from deploycheck.evidence.registry import PROBES, REGISTRY, SESSIONS

RETRY_INTERVAL_S = 1.0
GRACE_S = 5.0  # beyond the longest wait and timeout, before the run stops waiting for a probe at all


class EvidenceStore:
    """Evidence of one run, keyed by (service, probe); shared between processes through `shared_dir` if given."""

    def __init__(self, environment: Environment, settings: GatherSettings, shared_dir: Path | None = None) -> None:
        self.environment = environment
        self.settings = settings
        self.shared_dir = shared_dir
        self._results: dict[ProbeKey, Evidence | None] = {}  # None: not configured for that service

    def prefetch(self, keys: Iterable[ProbeKey]) -> None:
        wanted = [key for key in dict.fromkeys(keys) if key not in self._results]
        if not wanted:
            return
        with self._shared() as shared:
            self._results.update({key: value for key, value in shared.items() if key not in self._results})
            missing = [key for key in wanted if key not in self._results]
            if missing:
                gathered = self._gather(missing)
                self._results.update(gathered)
                shared.update(gathered)

    def get(self, service: str | None, probe: str) -> Evidence:
        key = (service, probe)
        if key not in self._results:
            self.prefetch([key])
        evidence = self._results[key]
        if evidence is None:
            raise NotConfigured(f"no `{PROBES[probe].section}` configured for {service or self.environment.name}")
        return evidence

    def _gather(self, keys: list[ProbeKey]) -> dict[ProbeKey, Evidence | None]:
        planned: dict[ProbeKey, tuple[Probe, Any]] = {}
        results: dict[ProbeKey, Evidence | None] = {}
        for service_name, probe_name in keys:
            probe = REGISTRY.probe(probe_name)
            service = self.environment.services[service_name] if service_name is not None else None
            request = probe.plan(self.environment, service, self.settings)
            if request is None:
                results[(service_name, probe_name)] = None
            else:
                planned[(service_name, probe_name)] = (probe, request)
        if planned:
            results.update(asyncio.run(self._gather_all(planned)))
        return results

    async def _gather_all(self, planned: Mapping[ProbeKey, tuple[Probe, Any]]) -> dict[ProbeKey, Evidence]:
        async with _sessions({probe.kind for probe, _ in planned.values()}) as sessions:
            for kind, session in sessions.items():
                # A kind that can ask for many things at once (one query for every service) sees them all first.
                prepare = getattr(session, "prepare", None)
                if prepare is not None:
                    prepare([request for probe, request in planned.values() if probe.kind == kind])
            tasks = {
                key: asyncio.ensure_future(self._gather_one(sessions[probe.kind], probe, request, key[0]))
                for key, (probe, request) in planned.items()
            }
            # Every kind bounds each request; this bounds the whole gathering too, whatever an adapter does.
            longest = max((deadline_of(request) for _, request in planned.values()), default=0.0)
            await asyncio.wait(tasks.values(), timeout=self.settings.wait_ready_s + longest + GRACE_S)
            results = {}
            for key, task in tasks.items():
                if task.done():
                    results[key] = task.result()
                else:
                    task.cancel()
                    source = planned[key][1].describe() if hasattr(planned[key][1], "describe") else {}
                    results[key] = Evidence(source, error="gathering did not finish in time")
            return results

    async def _gather_one(self, session: Fetcher, probe: Probe, request: Any, service_name: str | None) -> Evidence:
        service = self.environment.services[service_name] if service_name is not None else None
        deadline = time.monotonic() + self.settings.wait_ready_s
        attempts = 0
        while True:
            attempts += 1
            evidence = await session.fetch(request)
            settled = probe.good is None or probe.good(evidence, service)
            if settled or time.monotonic() + RETRY_INTERVAL_S > deadline:
                return replace(evidence, attempts=attempts)
            await asyncio.sleep(RETRY_INTERVAL_S)

    @contextlib.contextmanager
    def _shared(self) -> Iterator[dict[ProbeKey, Evidence | None]]:
        """The evidence other processes of this run gathered, locked while this one adds to it."""
        if self.shared_dir is None:
            yield {}
            return
        path = self.shared_dir / "evidence.pickle"
        with open(self.shared_dir / "evidence.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            # The directory is private to this run (made by its controller), so its pickles are our own.
            shared = pickle.loads(path.read_bytes()) if path.exists() else {}
            yield shared
            path.write_bytes(pickle.dumps(shared))


@contextlib.asynccontextmanager
async def _sessions(kinds: set[str]) -> AsyncIterator[dict[str, Fetcher]]:
    async with contextlib.AsyncExitStack() as stack:
        yield {kind: await stack.enter_async_context(SESSIONS[kind]()) for kind in sorted(kinds)}
