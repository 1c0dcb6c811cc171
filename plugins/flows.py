"""Key user flows as checks: which run for which service, whether they may change data here, and the fixtures a
flow is written with (`run_id`, `flow_client`, `smoke_account`, `login`, `step`, `cleanup`).

A flow is a test marked `@pytest.mark.flow` (in `smoke/`, check id `flows.<name>`), or a flow declared in the
environment file (`declared_flows:`), run by `smoke/test_flows.py::test_declared` as `flows.<name>` too. A service
runs the flows its `flows:` lists; a listed name that no flow provides is a usage error. Flows are stateful: not
evidence, never gathered with it nor retried by --wait-ready; every flow of the run goes at once before the first test
(plugins/flows_at_once.py), each exactly once per run, all under one run id; each flow's test then records its
finding. Each flow's steps are recorded in one finding, after its cleanups ran, naming the step that failed."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from deploycheck.actions.approval import allowed_by
from deploycheck.config.loader import ConfigError, check_flow_names
from deploycheck.config.variables import SECRET_KEY
from deploycheck.flows import declared
from deploycheck.flows.context import Account, FlowContext, LogIn, Logins, oauth2_password
from deploycheck.flows.policy import refusal
from deploycheck.flows.runner import FlowSession, StepFailed
from deploycheck_plugins.cancellation import cancellation_of
from deploycheck_plugins.checks import flow_check_key, scope_of
from deploycheck_plugins.targets import (
    Target,
    environment_key,
    is_running,
    redactor_key,
    service_of,
    settings_key,
)

if TYPE_CHECKING:
    from deploycheck_plugins.flows_at_once import PreRun

FLOW_MARKER = "flow"
DECLARED = "declared_flow"  # the parameter of smoke/test_flows.py::test_declared
SMOKE_SECRETS = ("SMOKE_PASSWORD", "SMOKE_TOKEN")
WORKER_RUN_ID = "deploycheck_flow_run_id"

run_id_key = pytest.StashKey[str]()
logins_key = pytest.StashKey[Logins]()  # bearer tokens, per process
prerun_key: pytest.StashKey[PreRun] = pytest.StashKey()  # on an item whose flow already ran with the others


# ---------------------------------------------------------------------------------------------------------------
# configuration: the run id (one per run, handed to xdist workers) and the secrets flows will meet


@pytest.hookimpl(trylast=True)  # after deploycheck_plugins.targets has loaded the environment
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "flow(name=None, mutating=False): a key user flow (check id flows.<name>); runs for the services that "
        "list it under `flows`; `mutating` ones only where the environment allows it or with --allow-mutating",
    )
    if not is_running(config):
        return
    workerinput: dict[str, Any] = getattr(config, "workerinput", {})
    config.stash[run_id_key] = workerinput.get(WORKER_RUN_ID) or uuid.uuid4().hex[:12]
    config.stash[logins_key] = Logins()
    if not workerinput and getattr(config.option, "numprocesses", None):
        config.pluginmanager.register(_RunIdHandover(config), "deploycheck-flows-xdist")
    environment = config.stash[environment_key]
    redact = config.stash[redactor_key]
    for name in {*SMOKE_SECRETS, *_environment_names(environment)}:
        if os.environ.get(name) and SECRET_KEY.search(name):
            redact.add(os.environ[name])  # a password or token a flow sends is never shown


class _RunIdHandover:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[WORKER_RUN_ID] = self.config.stash[run_id_key]


def _environment_names(environment: Any) -> set[str]:
    return {name for flow in environment.declared_flows.values() for name in declared.environment_names(flow)}


# ---------------------------------------------------------------------------------------------------------------
# collection: one declared-flow test per declared flow; which flows run for which service, and may they


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if DECLARED not in metafunc.fixturenames or not is_running(metafunc.config):
        return
    flows = list(metafunc.config.stash[environment_key].declared_flows)
    metafunc.parametrize(DECLARED, flows, ids=flows, indirect=True)


def flow_name(item: pytest.Item) -> str | None:
    """The flow a test runs (None: not a flow)."""
    callspec = getattr(item, "callspec", None)
    if callspec is not None and DECLARED in callspec.params:
        return str(callspec.params[DECLARED])
    marker = item.get_closest_marker(FLOW_MARKER)
    if marker is None:
        return None
    explicit = marker.kwargs.get("name", marker.args[0] if marker.args else None)
    return str(explicit or getattr(item, "originalname", item.name).removeprefix("test_"))


def runs_for_its_service(item: pytest.Item, environment: Any) -> bool:
    """False for a flow its service does not list under `flows` (it is no check of that service at all)."""
    if not _is_flow_test(item):
        return True
    name, service = flow_name(item), service_of(item)
    return name is not None and service is not None and name in environment.services[service].flows


def is_mutating(item: pytest.Item, environment: Any) -> bool:
    callspec = getattr(item, "callspec", None)
    if callspec is not None and DECLARED in callspec.params:
        return bool(environment.declared_flows[callspec.params[DECLARED]].mutating)
    marker = item.get_closest_marker(FLOW_MARKER)
    return bool(marker is not None and marker.kwargs.get("mutating", False))


@pytest.hookimpl(tryfirst=True)  # before -k/-m deselection: every flow the run could offer is known
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not is_running(config):
        return
    environment = config.stash[environment_key]
    flow_items = [(item, flow_name(item)) for item in items if _is_flow_test(item)]
    if not flow_items:
        return  # no flow in this run (`pytest checks/`): nothing to select
    python_flows = {
        name: item.nodeid for item, name in flow_items if name is not None and DECLARED not in _params(item)
    }
    _check_names(environment, python_flows)
    settings = config.stash[settings_key]
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        name = flow_name(item) if _is_flow_test(item) else None
        service = service_of(item)
        if not _is_flow_test(item):
            keep.append(item)
            continue
        if name is None or not runs_for_its_service(item, environment):
            dropped.append(item)  # not a flow this service runs: not part of its check at all
            continue
        item.stash[flow_check_key] = name  # its check id: flows.<name>, wherever the flow is written
        reason = _not_allowed(item, name, environment, settings)
        if reason:
            item.add_marker(pytest.mark.skip(reason=f"{environment.name}/{service}: {reason}"))
        keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def _is_flow_test(item: pytest.Item) -> bool:
    return item.get_closest_marker(FLOW_MARKER) is not None or DECLARED in getattr(item, "fixturenames", ())


def _params(item: pytest.Item) -> dict[str, Any]:
    callspec = getattr(item, "callspec", None)
    return dict(callspec.params) if callspec is not None else {}


def _check_names(environment: Any, python_flows: Mapping[str, str]) -> None:
    """Declared flows named like Python flows, listed flows nothing defines: one usage error with all of them."""
    try:
        check_flow_names(environment, python_flows)
    except ConfigError as error:
        raise pytest.UsageError(f"bad configuration for --env {environment.name}: {error}") from None


def _not_allowed(item: pytest.Item, name: str, environment: Any, settings: Any) -> str | None:
    if not is_mutating(item, environment):
        return None
    return refusal(f"flow {name}", environment, settings.allow_mutating, settings.approve)


# ---------------------------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="session")
def run_id(request: pytest.FixtureRequest) -> str:
    """This run's id: tag what a flow creates with it, so its data can be told apart and cleaned up."""
    return request.config.stash[run_id_key]


@pytest.fixture(scope="session")
def log_in() -> LogIn:
    """How an account gets its bearer token: the OAuth2 password grant (a form to `params.token_path`, default
    /oauth/token, answering `access_token`). Override this fixture for an API that logs in differently."""

    return oauth2_password


@pytest.fixture
def _flow_context(
    target: Target, run_id: str, log_in: LogIn, request: pytest.FixtureRequest, verify: Any
) -> Iterator[FlowContext | None]:
    if prerun_key in request.node.stash:
        yield None  # it already ran with the others, at once: its test only reports what it found
        return
    name = flow_name(request.node) or request.node.name
    mutating = is_mutating(request.node, request.config.stash[environment_key])
    context = flow_context(request.config, target, name, run_id, log_in, verify, request.node, mutating=mutating)
    try:
        yield context
    finally:
        context.finish()


@pytest.fixture
def flow(_flow_context: FlowContext | None) -> FlowSession | None:
    """The flow under way (a `FlowSession`): its steps and cleanups, for what the fixtures below do not cover."""
    return _flow_context.session if _flow_context else None


@pytest.fixture
def flow_client(_flow_context: FlowContext | None) -> httpx.Client | None:
    """An httpx client bound to the service under check: its URL, timeout, TLS and headers; not signed in."""
    return _flow_context.client if _flow_context else None


@pytest.fixture
def smoke_account(_flow_context: FlowContext | None) -> Account | None:
    """The account of the flow's `flow_options`, else $SMOKE_TOKEN, else $SMOKE_USER and $SMOKE_PASSWORD."""
    return _flow_context.smoke_account() if _flow_context else None


@pytest.fixture
def login(_flow_context: FlowContext | None) -> Callable[..., str] | None:
    """`login()`: log in now, recorded as the flow's steps (the login flow itself); returns the bearer token."""
    return _flow_context.login if _flow_context else None


@pytest.fixture
def step(_flow_context: FlowContext | None) -> Callable[..., httpx.Response] | None:
    """`step(name, method, path, json=..., data=..., expect=201, fields={...}, max_ms=..., until={...})`: send
    one request of the flow, signed in as the smoke account (once per service), and check the answer. A failure
    ends the flow, named by its step. `bearer=TOKEN` or `client=...` sends it another way."""
    return _flow_context.step if _flow_context else None


@pytest.fixture
def cleanup(_flow_context: FlowContext | None) -> Callable[..., None] | None:
    """`cleanup(name, method, path)`: undo what the flow created, when it ends, however it ends (newest first);
    404 counts as clean. Signed in like `step`."""
    return _flow_context.cleanup if _flow_context else None


@pytest.fixture
def declared_flow(request: pytest.FixtureRequest) -> Any:
    """The declared flow this test runs (from `declared_flows:` in the environment file)."""
    return request.config.stash[environment_key].declared_flows[request.param]


def flow_context(
    config: pytest.Config,
    target: Target,
    name: str,
    run_id: str,
    log_in: LogIn,
    record: Any,
    item: pytest.Item,
    mutating: bool = False,
) -> FlowContext:
    """The flow's context for this run and this test (its check id, its entry in the ledger of a cancelled run)."""
    check = scope_of(item).get("check") or f"flows.{name}"
    approval = None
    if mutating:
        approval = allowed_by(config.stash[environment_key], config.stash[settings_key].approve) or "not given"
    return FlowContext(
        target.service,
        name,
        run_id,
        log_in,
        record,
        config.stash[redactor_key],
        config.stash[logins_key],
        cancellation_of(config),
        {"service": target.name, "flow": name, "test": item.nodeid, "check": check},
        approval=approval,
    )


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """A flow that runs judges the service's `flows` entry of its name (else that entry is listed as not judged)."""
    if not is_running(session.config):
        return
    for item in session.items:
        name = flow_name(item) if _is_flow_test(item) else None
        scope = scope_of(item)
        if name is not None and "sections" in scope:
            scope["sections"].append((scope.get("service"), f"flows.{name}"))


class FlowBroke(RuntimeError):
    """The flow's own code broke (not the service): reported as an error, never a pass."""


def run_declared(spec: Any, flow: FlowSession, run_id: str, verify: Any) -> None:
    """Send a declared flow's steps (the values it takes from the environment, and the run id, substituted)."""
    values = {name: os.environ[name] for name in declared.environment_names(spec) if name in os.environ}
    values["run_id"] = run_id
    try:
        declared.run(spec, flow, values)
        return
    except StepFailed:
        pass  # recorded below, outside this handler
    verify(flow.finding())
