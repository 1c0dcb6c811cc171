"""A declared flow (`declared_flows:` in the environment file) sent through a `FlowSession`: each step substituted
with the values known by then, checked, and its `save`s kept for the steps after it; the cleanup steps registered
up front, so they run however the flow ends (one whose `${name}` was never saved is left out: nothing to clean)."""

from __future__ import annotations

from collections.abc import Mapping

from deploycheck.flows.model import DeclaredFlow, FlowStep
from deploycheck.flows.runner import FlowSession
from deploycheck.flows.substitute import MissingValue, names, substitute

RUN_ID = "run_id"


def environment_names(flow: DeclaredFlow) -> set[str]:
    """The `${NAME}`s the flow takes from the process environment: neither the run id nor saved by a step."""
    saved = {name for step in [*flow.steps, *flow.cleanup] for name in step.save}
    used = set(names(dict(flow.headers)))
    for step in [*flow.steps, *flow.cleanup]:
        used.update(names([step.path, dict(step.headers), step.body, step.form, dict(step.expect.fields)]))
        used.update(names(dict(step.until)))
    return used - saved - {RUN_ID}


def run(flow: DeclaredFlow, session: FlowSession, values: Mapping[str, str]) -> None:
    """Send the flow's steps; raises StepFailed at the first that fails. The cleanups stay registered on `session`
    for the caller to run (`session.run_cleanups()`), after a failure too."""
    known = dict(values)
    for cleanup in flow.cleanup:  # registered first, so they run last, in the order written
        session.cleanups.insert(0, _Deferred(cleanup, flow, known, session).run)
    for step in flow.steps:
        try:
            request = _request(step, flow, known)
        except MissingValue as missing:
            session.fail(f"step {step.name!r}: {missing}")
        response = session.step(step.name, step.method, request["path"], **request["options"])
        known.update(session.save(response, step.save, step.name))


def _request(step: FlowStep, flow: DeclaredFlow, known: Mapping[str, str]) -> dict:  # type: ignore[type-arg]
    headers = {}
    for name, value in flow.headers.items():
        if set(names(value)) <= set(known):  # not saved yet: this step goes without it (the login itself)
            headers[name] = substitute(value, known)
    headers.update(substitute(dict(step.headers), known))
    return {
        "path": substitute(step.path, known),
        "options": {
            "json": substitute(step.body, known),
            "data": substitute(step.form, known) if step.form is not None else None,
            "headers": headers,
            "expect": list(step.expect.status) if isinstance(step.expect.status, list) else step.expect.status,
            "fields": substitute(dict(step.expect.fields), known),
            "max_ms": step.expect.max_ms,
            "until": substitute(dict(step.until), known),
            "within": step.within,
            "retries": step.retries,
        },
    }


class _Deferred:
    """A cleanup step, substituted only when it runs: with the values the flow had saved by then."""

    def __init__(self, step: FlowStep, flow: DeclaredFlow, known: dict[str, str], session: FlowSession) -> None:
        self.step = step
        self.flow = flow
        self.known = known
        self.session = session
        self.name = step.name

    def run(self) -> object:
        try:
            request = _request(self.step, self.flow, self.known)
        except MissingValue:
            return None  # what it would remove was never created
        options = request["options"]
        return self.session.step(
            self.step.name,
            self.step.method,
            request["path"],
            json=options["json"],
            data=options["data"],
            headers=options["headers"],
            expect=options["expect"],
            phase="cleanup",
        )
