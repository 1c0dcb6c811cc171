"""One flow against one service, whoever runs it (a test, or every flow of the run at once): its HTTP client, its
account and login, its steps and cleanups through a `FlowSession`, and its entry in the ledger a cancelled run
reads. Free of pytest: the plugin (deploycheck_plugins.flows) builds it from the run and the test."""

from __future__ import annotations

import collections
import functools
import os
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from deploycheck import tls
from deploycheck.config.environment import FlowOptions, Service
from deploycheck.flows.runner import CannotStart, FlowSession, StepFailed
from deploycheck.secrets import Redactor


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


def oauth2_password(step: Callable[..., httpx.Response], account: Account) -> str:
    """The default login: the OAuth2 password grant (a form to `params.token_path`, default /oauth/token,
    answering `access_token`)."""
    form = {"grant_type": "password", "username": account.username or "", "password": account.password or ""}
    answer = step("log in", "POST", account.params.get("token_path", "/oauth/token"), data=form)
    return str(answer.json()["access_token"])


@dataclass
class Logins:
    """Bearer tokens of one process, by (service, account): each service is logged in to once, however many
    flows run at once."""

    tokens: dict[tuple[str, str], str] = field(default_factory=dict)
    locks: collections.defaultdict[str, threading.Lock] = field(
        default_factory=lambda: collections.defaultdict(threading.Lock)
    )


class Ledger(Protocol):
    """Where a cancelled run learns what each flow did (deploycheck_plugins.cancellation keeps it)."""

    def reason(self) -> str | None: ...

    def started(self, key: str, entry: dict[str, Any]) -> None: ...

    def finished(self, key: str, entry: dict[str, Any]) -> None: ...


class FlowContext:
    """One flow against one service: what its fixtures hand out, the same whether pytest runs it or it runs with
    the others at once. `record` records a finding and raises for a failure (the `verify` of a check)."""

    def __init__(
        self,
        service: Service,
        name: str,
        run_id: str,
        log_in: LogIn,
        record: Any,
        redact: Redactor,
        logins: Logins,
        ledger: Ledger | None,
        ledger_entry: dict[str, Any],
        approval: str | None = None,
    ) -> None:
        self.service = service
        self.name = name
        self.log_in = log_in
        self.record = record
        self.logins = logins
        self.options = service.flow_options.get(name, FlowOptions())
        timeout = self.options.timeout if self.options.timeout is not None else service.timeout_s
        self.client = httpx.Client(
            base_url=service.url, timeout=timeout, verify=_tls(service), headers=dict(service.headers)
        )
        self.redact = redact  # thread-safe: flows at once learn tokens while others redact
        source = {"service": service.name, "url": _origin(self.client), "run_id": run_id}
        if approval is not None:  # it may change data here: who allowed it (--approve, or a file that needs none)
            source["approval"] = approval
        self.cancellation = ledger
        cancelled = self.cancellation.reason if self.cancellation else lambda: None
        self.session = FlowSession(name, self.client, on_secret=self.redact.add, source=source, cancelled=cancelled)
        self.ledger_key = ledger_entry["test"]
        self.ledger_entry = ledger_entry
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
            f"no smoke-test account for {self.service.name}: set flow_options.{self.name}.username and password (or "
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
        key = (self.service.name, account.key)
        tokens = self.logins.tokens
        with self.logins.locks[self.service.name]:  # flows that run at once log in once
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


def _tls(service: Service) -> ssl.SSLContext:
    """The suite's one TLS rule, as the probes use it (a context built once: httpx would load the CA bundle again
    for every client, ~0.2 s of CPU each, which made 200 flows at once wait on the CPU, not on their services)."""
    return tls.ssl_context(tls.options(service.tls))


def _origin(client: httpx.Client) -> str:
    url = client.base_url
    return f"{url.scheme}://{url.host}" + (f":{url.port}" if url.port else "")
