"""Key user flows as checks: which run for which service, whether they may change data here, and the fixtures a
flow is written with (`run_id`, `flow_client`, `smoke_account`, `login`, `step`, `cleanup`).

A flow is a test marked `@pytest.mark.flow` (in `smoke/`, check id `flows.<name>`), or a flow declared in the
environment file (`declared_flows:`), run by `smoke/test_flows.py::test_declared` as `flows.<name>` too. A service
runs the flows its `flows:` lists; a listed name that no flow provides is a usage error. Flows are stateful: not
evidence, never gathered with it nor retried by --wait-ready; every flow of the run goes at once before the first test
(plugins/flows_at_once.py), each exactly once per run, all under one run id; each flow's test then records its
finding. Each flow's steps are recorded in one finding, after its cleanups ran, naming the step that failed."""

from __future__ import annotations

import collections
import functools
import os
import ssl
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from deploycheck import tls
from deploycheck.actions.approval import allowed_by
from deploycheck.config.loader import ConfigError, FlowOptions, Service, check_flow_names
from deploycheck.config.variables import SECRET_KEY
from deploycheck.flows import declared
from deploycheck.flows.runner import CannotStart, FlowSession, StepFailed
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
tokens_key = pytest.StashKey[dict[tuple[str, str], str]]()  # (service, account) -> bearer token, per process
login_locks_key = pytest.StashKey[collections.defaultdict[str, threading.Lock]]()  # per service
prerun_key: pytest.StashKey[PreRun] = pytest.StashKey()  # on an item whose flow already ran with the others

NOT_ALLOWED = (
    "{flow} changes data and {environment} does not allow it (allow_mutating_flows: false): "
    "pass --allow-mutating to run it"
)
NEEDS_APPROVAL = "{flow} changes data and {environment} requires approval: pass --approve (with --allow-mutating)"


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
    config.stash[tokens_key] = {}
    config.stash[login_locks_key] = collections.defaultdict(threading.Lock)
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
    flow = f"flow {name}"
    if not (environment.allow_mutating_flows or settings.allow_mutating):
        return NOT_ALLOWED.format(flow=flow, environment=environment.name)
    if allowed_by(environment, settings.approve) is None:
        return NEEDS_APPROVAL.format(flow=flow, environment=environment.name)
    return None


# ---------------------------------------------------------------------------------------------------------------
# fixtures


@dataclass(frozen=True, repr=False)
class Account:
    """The smoke-test account a flow signs in with: user and password, or a bearer token."""

    username: str | None = None
    password: str | None = None
    token: str | None = None
    params: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Account({self.username!r})"  # never the password or token

    @property
    def key(self) -> str:
        return self.username or "token"


LogIn = Callable[[Callable[..., httpx.Response], Account], str]


@pytest.fixture(scope="session")
def run_id(request: pytest.FixtureRequest) -> str:
    """This run's id: tag what a flow creates with it, so its data can be told apart and cleaned up."""
    return request.config.stash[run_id_key]


@pytest.fixture(scope="session")
def log_in() -> LogIn:
    """How an account gets its bearer token: the OAuth2 password grant (a form to `params.token_path`, default
    /oauth/token, answering `access_token`). Override this fixture for an API that logs in differently."""

    def oauth2_password(step: Callable[..., httpx.Response], account: Account) -> str:
        form = {"grant_type": "password", "username": account.username or "", "password": account.password or ""}
        answer = step("log in", "POST", account.params.get("token_path", "/oauth/token"), data=form)
        return str(answer.json()["access_token"])

    return oauth2_password


@pytest.fixture
def _flow_context(
    target: Target, run_id: str, log_in: LogIn, request: pytest.FixtureRequest, verify: Any
) -> Iterator[FlowContext | None]:
    if prerun_key in request.node.stash:
        yield None  # it already ran with the others, at once: its test only reports what it found
        return
    name = flow_name(request.node) or request.node.name
    context = FlowContext(
        request.config,
        target,
        name,
        run_id,
        log_in,
        verify,
        request.node,
        mutating=is_mutating(request.node, request.config.stash[environment_key]),
    )
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


class FlowContext:
    """One flow against one service: what its fixtures hand out, the same whether pytest runs it or it runs with
    the others at once. `record` records a finding and raises for a failure (the `verify` of a check)."""

    def __init__(
        self,
        config: pytest.Config,
        target: Target,
        name: str,
        run_id: str,
        log_in: LogIn,
        record: Any,
        item: pytest.Item,
        mutating: bool = False,
    ) -> None:
        self.config = config
        self.target = target
        self.name = name
        self.log_in = log_in
        self.record = record
        service = target.service
        self.options = service.flow_options.get(name, FlowOptions())
        timeout = self.options.timeout if self.options.timeout is not None else service.timeout_s
        self.client = httpx.Client(
            base_url=service.url, timeout=timeout, verify=_tls(service), headers=dict(service.headers)
        )
        self.redact = config.stash[redactor_key]  # thread-safe: flows at once learn tokens while others redact
        source = {"service": target.name, "url": _origin(self.client), "run_id": run_id}
        if mutating:  # it may change data here: say who allowed it (--approve, or a file that needs no approval)
            environment = config.stash[environment_key]
            source["approval"] = allowed_by(environment, config.stash[settings_key].approve) or "not given"
        self.cancellation = cancellation_of(config)
        cancelled = self.cancellation.reason if self.cancellation else lambda: None
        self.session = FlowSession(name, self.client, on_secret=self.redact.add, source=source, cancelled=cancelled)
        self.ledger_key = item.nodeid
        check = scope_of(item).get("check") or f"flows.{name}"
        self.ledger_entry = {"service": target.name, "flow": name, "test": item.nodeid, "check": check}
        if self.cancellation is not None:
            self.cancellation.started(self.ledger_key, self.ledger_entry)

    def account(self) -> Account:
        params = dict(self.options.params)
        if self.options.token is not None:
            return Account(token=self.options.token.reveal(), params=params)
        if self.options.username is not None and self.options.password is not None:
            return Account(self.options.username, self.options.password.reveal(), params=params)
        environ = os.environ
        if environ.get("SMOKE_TOKEN"):
            return Account(token=environ["SMOKE_TOKEN"], params=params)
        if environ.get("SMOKE_USER") and environ.get("SMOKE_PASSWORD"):
            return Account(environ["SMOKE_USER"], environ["SMOKE_PASSWORD"], params=params)
        raise CannotStart(
            f"no smoke-test account for {self.target.id}: set flow_options.{self.name}.username and password (or "
            "token), or export SMOKE_USER and SMOKE_PASSWORD (or SMOKE_TOKEN)"
        )

    def smoke_account(self) -> Account:
        """The account, or the flow fails saying it could not start without one."""
        __tracebackhide__ = True
        account: Account = self._recorded(self._account)
        return account

    def _account(self) -> Account:
        try:
            return self.account()
        except CannotStart as error:
            self.session.fail(f"could not start: {error}", CannotStart)
            raise  # pragma: no cover  (fail raises)

    def login(self, account: Account | None = None) -> str:
        __tracebackhide__ = True
        account = account or self.smoke_account()
        if account.token:
            return account.token
        return str(self._recorded(self._log_in, account))

    def step(self, name: str, method: str, path: str, *, bearer: str | None = None, **options: Any) -> httpx.Response:
        __tracebackhide__ = True
        if bearer is not None:
            options["headers"] = {**options.get("headers", {}), "Authorization": f"Bearer {bearer}"}
        elif "client" not in options:
            options["headers"] = {**self._recorded(self._signed_in), **options.get("headers", {})}
        response: httpx.Response = self._recorded(self.session.step, name, method, path, **options)
        return response

    def cleanup(self, name: str, method: str, path: str, **options: Any) -> None:
        __tracebackhide__ = True
        if "client" not in options:
            options["headers"] = {**self._recorded(self._signed_in), **options.get("headers", {})}
        self.session.add_cleanup(name, method, path, **options)

    def finish(self) -> None:
        """Run the cleanups (however the flow ended) and record how it went: passed with every step, or failed for
        what its cleanup left (a failed step was recorded when it failed, after its cleanups). In a cancelled run,
        the ledger has it (its test reports nothing any more)."""
        try:
            self.session.run_cleanups()
        finally:
            self.client.close()
            self._enter_in_ledger()
        why = self.cancellation.reason() if self.cancellation else None
        if self.session.failure is None and why is None:  # a failed flow recorded its finding when it failed
            self.record(self.session.finding())

    def _enter_in_ledger(self) -> None:
        """What the flow did, for a cancelled run's verdict: where it stopped, its cleanups, what it left."""
        if self.cancellation is None:
            return
        why = self.cancellation.reason()
        if why is not None:
            self.session.mark_interrupted(why)
        cleanups = [record for record in self.session.records if record.phase == "cleanup"]
        entry = {
            **self.ledger_entry,
            "interrupted": self.session.interrupted is not None,
            "stopped_at": self.session.interrupted,
            "cleanups": [self.redact.scrub_document(record.to_dict()) for record in cleanups],
            "left_behind": [self.redact(left) for left in self.session.left],
            "finding": self.redact.scrub_document(self.session.finding().to_dict()),
        }
        self.cancellation.finished(self.ledger_key, entry)

    def _recorded(self, action: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """`action`'s result; if it fails the flow, the flow's finding is recorded (and raised) in its stead."""
        __tracebackhide__ = True
        try:
            return action(*args, **kwargs)
        except StepFailed:
            pass  # recorded below, outside this handler: the failure reads as one error, not two chained
        self.session.run_cleanups()  # now, so that the failed flow's finding shows what its cleanups did
        self.record(self.session.finding())
        raise AssertionError("unreachable: a failed flow's finding is a failure")  # pragma: no cover

    def _log_in(self, account: Account) -> str:
        token = self.log_in(functools.partial(self.session.step, phase="login"), account)
        self.session.on_secret(token)
        return token

    def _signed_in(self) -> dict[str, str]:
        """The Authorization header of the smoke account on this service, logging in once per service and process."""
        account = self._account()
        key = (self.target.name, account.key)
        tokens = self.config.stash[tokens_key]
        with self.config.stash[login_locks_key][self.target.name]:  # flows that run at once log in once
            if account.token:
                tokens[key] = account.token
            if key not in tokens:
                try:
                    tokens[key] = self._log_in(account)
                except StepFailed as failed:
                    self.session.failure = None
                    self.session.fail(f"could not start: logging in as {account.key} failed: {failed}", CannotStart)
                except (KeyError, TypeError, ValueError) as error:
                    reason = f"could not start: logging in as {account.key} gave no token ({error!r})"
                    self.session.fail(reason, CannotStart)
        return {"Authorization": f"Bearer {tokens[key]}"}


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


def _tls(service: Service) -> ssl.SSLContext:
    """The suite's one TLS rule, as the probes use it (a context built once: httpx would load the CA bundle again
    for every client, ~0.2 s of CPU each, which made 200 flows at once wait on the CPU, not on their services)."""
    return tls.ssl_context(tls.options(service.tls))


def _origin(client: httpx.Client) -> str:
    url = client.base_url
    return f"{url.scheme}://{url.host}" + (f":{url.port}" if url.port else "")
