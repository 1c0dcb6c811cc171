"""One run of one flow against one service: its steps sent in order and each one recorded (request, status, time,
the relevant part of the answer), the cleanups it registered run last, always, newest first, and the finding that
says how it went. Free of pytest: the plugin binds it to fixtures, and declared flows drive it the same way.

A step that fails raises `StepFailed` naming the step, what was expected and what came back; a service that does
not answer fails the step (never passes it). Only idempotent steps are retried (GET, HEAD, OPTIONS, PUT, DELETE, or
any request that carries an Idempotency-Key), and only after a connection error or a 502, 503 or 504.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from deploycheck import tls
from deploycheck.config.variables import SECRET_KEY
from deploycheck.findings import Finding, Outcome
from deploycheck.flows.model import IDEMPOTENT_METHODS
from deploycheck.flows.substitute import dotted
from deploycheck.text import cut, one_line

RETRY_STATUSES = frozenset({502, 503, 504})
EXCERPT_CHARS = 200
POLL_INTERVAL_S = 0.05
CLEANUP_OK = (200, 202, 204, 404)  # gone already is clean
MASK = "***"
Status = int | Iterable[int]


class StepFailed(AssertionError):
    """A step of a flow did not get the answer it expects (or none at all): the service broke the flow."""


class CannotStart(StepFailed):
    """The flow could not even begin (its login was refused): said as such."""


class Cancelled(StepFailed):
    """The run was cancelled (SIGTERM, SIGHUP, Ctrl-C): the flow stops before its next request; its cleanups
    still run."""


@dataclass
class StepRecord:
    name: str
    request: str  # "POST /v1/orders": method and path, never headers or the body sent
    phase: str = "step"  # step, login or cleanup
    status: int | None = None
    ms: float = 0.0
    attempts: int = 1
    passed: bool = False
    answer: Any = None  # the relevant part: checked and saved fields, or an excerpt when it failed; secrets masked
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = {key: value for key, value in vars(self).items() if value is not None}
        data["ms"] = round(self.ms, 1)
        return data


class FlowSession:
    """The steps of one flow. `on_secret` hears every secret value met in an answer (a token), so the run's
    redactor masks it everywhere."""

    def __init__(
        self,
        flow: str,
        client: httpx.Client,
        *,
        on_secret: Callable[[str], None] = lambda value: None,
        source: Mapping[str, Any] | None = None,
        cancelled: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.flow = flow
        self.client = client
        self.on_secret = on_secret
        self.source = dict(source or {})
        self.records: list[StepRecord] = []
        self.cleanups: list[Callable[[], object]] = []  # run newest first
        self.failure: str | None = None
        self.left: list[str] = []  # what the cleanups could not remove
        self.cancelled = cancelled  # why the run was cancelled ("SIGTERM"), or None while it goes on
        self.interrupted: str | None = None  # the step the cancellation stopped the flow at
        self._started = time.perf_counter()

    # ----------------------------------------------------------------------------------------------------------
    # steps

    def step(
        self,
        name: str,
        method: str,
        path: str,
        *,
        client: httpx.Client | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        expect: Status = 200,
        fields: Mapping[str, Any] | None = None,
        max_ms: float | None = None,
        until: Mapping[str, Any] | None = None,
        within: float = 5.0,
        retries: int | None = None,
        phase: str = "step",
    ) -> httpx.Response:
        """Send one request and check its answer; raises StepFailed (recorded) if it is not what is expected."""
        method = method.upper()
        record = StepRecord(name, f"{method} {_display(path)}", phase)
        self.records.append(record)
        headers = dict(headers or {})
        if retries is None:
            idempotent = method in IDEMPOTENT_METHODS or "idempotency-key" in {key.lower() for key in headers}
            retries = 1 if idempotent else 0
        statuses = (expect,) if isinstance(expect, int) else tuple(expect)
        deadline = time.monotonic() + within
        response: httpx.Response | None = None
        while True:
            self._stop_if_cancelled(record, waiting=response is not None)
            response = self._send(record, client or self.client, method, path, json, data, headers, retries)
            body = _json(response)
            self._note_secrets(body)
            if until and response.status_code in statuses and not _mismatches(body, until):
                break
            if not until or response.status_code not in statuses or time.monotonic() >= deadline:
                break
            time.sleep(POLL_INTERVAL_S)
        record.status = response.status_code
        checked = {**(fields or {}), **(until or {})}
        record.answer = _masked({path_: _get(body, path_) for path_ in checked}) if checked else None
        problem = self._problem(response, body, statuses, fields or {}, until or {}, within, max_ms, record)
        if problem:
            record.answer = {**(record.answer or {}), "body": self.excerpt(response)}
            self.fail(f"step {name!r}: {record.request} {problem}")
        record.passed = True
        return response

    def mark_interrupted(self, why: str) -> None:
        """The run was cancelled while this flow ran in its own thread of control (its test): say where."""
        if self.interrupted is None and self.failure is None:
            under_way = next((record for record in reversed(self.records) if record.phase != "cleanup"), None)
            self.interrupted = under_way.name if under_way else "(before its first step)"
            self.failure = f"the run was cancelled ({why}) during step {self.interrupted!r}"

    def _stop_if_cancelled(self, record: StepRecord, waiting: bool) -> None:
        """A cancelled run sends no further request (a cleanup still goes: it is what the cancellation waits for)."""
        why = self.cancelled() if record.phase != "cleanup" else None
        if why is not None:
            self.interrupted = record.name
            what = "while waiting for its answer to change" if waiting else f"before {record.request} was sent"
            record.error = f"the run was cancelled ({why}) {what}"
            self.fail(f"step {record.name!r}: the run was cancelled ({why}) {what}", Cancelled)

    def _send(
        self,
        record: StepRecord,
        client: httpx.Client,
        method: str,
        path: str,
        json_body: Any,
        data: Mapping[str, str] | None,
        headers: Mapping[str, str],
        retries: int,
    ) -> httpx.Response:
        for attempt in range(retries + 1):
            record.attempts = attempt + 1
            started = time.perf_counter()
            try:
                response = client.request(method, path, json=json_body, data=data, headers=headers)
            except httpx.HTTPError as error:
                record.ms = (time.perf_counter() - started) * 1000
                record.error = _transport_error(error, client)
                if attempt == retries:
                    self.fail(f"step {record.name!r}: {record.request} got no answer: {record.error}")
                continue
            record.ms = (time.perf_counter() - started) * 1000
            record.error = None
            if response.status_code not in RETRY_STATUSES or attempt == retries:
                return response
        raise AssertionError("unreachable: the last attempt returns or fails")  # pragma: no cover

    def _problem(
        self,
        response: httpx.Response,
        body: Any,
        statuses: tuple[int, ...],
        fields: Mapping[str, Any],
        until: Mapping[str, Any],
        within: float,
        max_ms: float | None,
        record: StepRecord,
    ) -> str | None:
        expected = " or ".join(str(status) for status in statuses)
        if response.status_code not in statuses:
            return f"answered {response.status_code}, expected {expected}"
        if until and _mismatches(body, until):
            return f"still {_describe(body, until)} after {within:g} s, expected {_wanted(until)}"
        if fields and _mismatches(body, fields):
            return f"answered {_describe(body, fields)}, expected {_wanted(fields)}"
        if max_ms is not None and record.ms > max_ms:
            return f"took {record.ms:.0f} ms, limit {max_ms:g} ms"
        return None

    def fail(self, message: str, error: type[StepFailed] = StepFailed) -> None:
        """Stop the flow here: the first failure is the one the verdict names."""
        if self.failure is None:
            self.failure = message
        raise error(message)

    def excerpt(self, response: httpx.Response) -> Any:
        body = _json(response)
        if body is not None:
            return _masked(body, budget=EXCERPT_CHARS)
        return cut(one_line(response.text), EXCERPT_CHARS)

    def save(self, response: httpx.Response, paths: Mapping[str, str], step: str) -> dict[str, str]:
        """The values to keep for later steps, by dotted path into the JSON answer (missing: the step failed)."""
        body = _json(response)
        saved: dict[str, str] = {}
        for name, path in paths.items():
            value = _get(body, path)
            if value is _MISSING or isinstance(value, dict | list):
                self.fail(f"step {step!r}: no value at {path!r} in the answer to save as {name}")
            saved[name] = str(value)
            if SECRET_KEY.search(name) or SECRET_KEY.search(path):
                self.on_secret(saved[name])
        return saved

    def _note_secrets(self, body: Any) -> None:
        for value in _secret_values(body):
            self.on_secret(value)

    # ----------------------------------------------------------------------------------------------------------
    # cleanup

    def add_cleanup(
        self,
        name: str,
        method: str,
        path: str,
        *,
        client: httpx.Client | None = None,
        headers: Mapping[str, str] | None = None,
        expect: Status = CLEANUP_OK,
    ) -> None:
        """Run this request when the flow ends, however it ends (newest first)."""

        def cleanup() -> object:
            return self.step(name, method, path, client=client, headers=headers, expect=expect, phase="cleanup")

        self.cleanups.append(cleanup)

    def run_cleanups(self) -> list[str]:
        """Run every registered cleanup, newest first, each whatever the others did; what each one left."""
        failure = self.failure  # a cleanup's failure is what it left, never the flow's own failure
        while self.cleanups:
            try:
                self.cleanups.pop()()
            except StepFailed as failed:
                self.left.append(str(failed).removeprefix("step "))
        self.failure = failure
        return self.left

    # ----------------------------------------------------------------------------------------------------------
    # the finding

    def finding(self) -> Finding:
        """How the flow went: failed at its first failed step, failed if its cleanup left data behind, else passed."""
        steps = [record.to_dict() for record in self.records]
        elapsed = (time.perf_counter() - self._started) * 1000
        main = [record for record in self.records if record.phase != "cleanup"]
        done = [record for record in self.records if record.phase == "cleanup" and record.passed]
        left = f"; cleanup failed, left behind: {'; '.join(self.left)}" if self.left else ""
        if self.interrupted is not None and not self.left:  # not the service's doing: nothing to judge
            outcome, message = Outcome.INCONCLUSIVE, f"flow {self.flow}: {self.failure}{self._cleaned(done)}"
        elif self.failure is not None:
            outcome, message = Outcome.FAILED, f"flow {self.flow}: {self.failure}{left}"
        elif self.left:
            outcome, message = Outcome.FAILED, f"flow {self.flow}: its {len(main)} steps passed{left}"
        else:
            outcome, message = (
                Outcome.PASSED,
                f"flow {self.flow}: {len(main)} steps passed in {elapsed:.0f} ms{self._cleaned(done)}",
            )
        return Finding(
            outcome,
            message,
            observed={"steps": steps, **({"left_behind": list(self.left)} if self.left else {})},
            limit={"steps": [record.name for record in main]},
            unit="steps",
            samples=len(steps),
            source={"kind": "flow", "flow": self.flow, **self.source},
            duration_ms=round(elapsed, 1),
        )

    @staticmethod
    def _cleaned(done: list[StepRecord]) -> str:
        return f", {len(done)} cleanup step{'s' if len(done) != 1 else ''} done" if done else ""


# --------------------------------------------------------------------------------------------------------------
# answers

_MISSING = object()


def _json(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return json.loads(response.content)
    except ValueError:
        return None


def _get(body: Any, path: str) -> Any:
    try:
        return dotted(body, path)
    except KeyError:
        return _MISSING


def _mismatches(body: Any, wanted: Mapping[str, Any]) -> list[str]:
    return [path for path, value in wanted.items() if not _equal(_get(body, path), value)]


def _equal(found: Any, wanted: Any) -> bool:
    if found is _MISSING:
        return False
    if isinstance(found, int | float) and isinstance(wanted, int | float | str) and not isinstance(found, bool):
        try:
            return float(found) == float(wanted)  # saved values are text: "1.0" matches 1.0
        except ValueError:
            return False
    return found == wanted or (not isinstance(found, dict | list) and str(found) == str(wanted))


def _describe(body: Any, wanted: Mapping[str, Any]) -> str:
    found = (f"{path}={'(missing)' if (value := _get(body, path)) is _MISSING else _short(value)}" for path in wanted)
    return ", ".join(found)


def _wanted(wanted: Mapping[str, Any]) -> str:
    return ", ".join(f"{path}={_short(value)}" for path, value in wanted.items())


def _short(value: Any) -> str:
    return cut(json.dumps(_masked(value), default=str), 80)


def _masked(value: Any, budget: int | None = None) -> Any:
    """The answer with every value under a secret-like key masked (and cut to `budget` characters of JSON)."""

    def walk(node: Any, key: str = "") -> Any:
        if key and SECRET_KEY.search(key) and node is not None and not isinstance(node, dict | list):
            return MASK
        if isinstance(node, dict):
            return {name: walk(item, str(name)) for name, item in node.items()}
        if isinstance(node, list):
            return [walk(item, key) for item in node]
        return None if node is _MISSING else node

    masked = walk(value)
    if budget is not None and len(json.dumps(masked, default=str)) > budget:
        return cut(json.dumps(masked, default=str), budget)
    return masked


def _secret_values(node: Any, key: str = "") -> list[str]:
    if isinstance(node, dict):
        return [value for name, item in node.items() for value in _secret_values(item, str(name))]
    if isinstance(node, list):
        return [value for item in node for value in _secret_values(item, key)]
    return [str(node)] if key and SECRET_KEY.search(key) and isinstance(node, str) and node else []


def _display(path: str) -> str:
    """A path for the record: its query may carry a token (`?access_token=...`)."""
    return path.split("?", 1)[0] + ("?***" if "?" in path else "")


def _transport_error(error: httpx.HTTPError, client: httpx.Client) -> str:
    if isinstance(error, httpx.TimeoutException):
        timeout = client.timeout.read
        return f"no answer within {timeout:g} s" if timeout else "timed out"
    if isinstance(error, httpx.ConnectError):
        return tls.failure(error) or "could not connect (is the service down?)"
    return f"{type(error).__name__}: {cut(one_line(str(error)), 200)}"
