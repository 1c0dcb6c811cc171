"""`python -m deploycheck serve`: verdicts over HTTP, in the form each rollout engine understands.

GET  /argo?env=E&service=S[&version=V]   Argo Rollouts `web` metric: 200 {"verdict": ...} once the run is done;
                                         503 while it runs (Argo retries); the server's own breakage is
                                         200 {"verdict": "INCONCLUSIVE"}, since Argo turns errors into an abort.
POST /flagger/<hook>                     Flagger webhooks (body: name, namespace, metadata {env, service,
                                         version, token}): pre-rollout/rollout 200 PASS, 500 FAIL, 503
                                         INCONCLUSIVE; confirm-promotion 200 on PASS only; rollback 200 on FAIL.
GET  /healthz                            the server itself (no token needed)

Every other request needs `Authorization: Bearer <token>` (Flagger, which sends no headers: metadata.token);
the token comes from the environment variable named by --token-env, never from the command line. Every answer
carries the verdict document, which the suite redacted when it wrote it. See docs/integrations.md.

Held under abuse (each refusal is a JSON `{"error": ...}`, never a traceback, never the token):
- a request's head, and then its body, must arrive within --read-timeout each, or the connection is closed;
- a bearer token in the header is checked before the body is read; a body's framing is judged from its headers
  before it is read (400 malformed or negative length, 411 chunked, 413 over MAX_BODY_BYTES);
- at most --max-connections connections at once, one short-lived thread each; beyond that, 503 at accept;
- only environments and services the environment files configure start a run (404 otherwise); at most --max-runs
  runs at once (503 with Retry-After beyond that).
"""

from __future__ import annotations

import argparse
import hmac
import io
import json
import logging
import math
import os
import re
import signal
import socket
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from deploycheck.config.loader import ConfigError, available_environments, parse_duration
from deploycheck.serve.catalogue import Catalogue, UnknownName
from deploycheck.serve.requests import BadRequest, DeadlineReader, HeadTooLarge, body_length, declares_body
from deploycheck.serve.runs import Busy, Run, Runs, RunSettings, Target

log = logging.getLogger("deploycheck.serve")
USAGE_ERROR = 4
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:+-]{0,127}$")  # env, service, version: never an option, never a path
MAX_BODY_BYTES = 64 * 1024
FLAGGER_HOOKS = ("pre-rollout", "rollout", "confirm-promotion", "rollback")
RETRY_AFTER_S = 5  # when every run slot is taken: a run of a few checks takes about that


class Unjudgeable(Exception):
    """The server cannot say anything about this target (its environment file is unreadable): a hold."""


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    def duration(text: str) -> float:
        try:
            return parse_duration(text)
        except ConfigError as error:
            raise argparse.ArgumentTypeError(error.reason) from None

    def positive(text: str) -> int:
        if not text.isdigit() or int(text) < 1:
            raise argparse.ArgumentTypeError(f"must be a whole number from 1 up, got {text!r}")
        return int(text)

    parser.add_argument("--bind", default="127.0.0.1", metavar="ADDR", help="Address to listen on (default loopback)")
    parser.add_argument("--port", type=int, default=8080, help="Port (0: any free one, printed at start)")
    parser.add_argument(
        "--token-env", default="DEPLOYCHECK_SERVE_TOKEN", metavar="NAME", help="Variable holding the bearer token"
    )
    parser.add_argument("--project", default=".", metavar="DIR", help="Repository whose checks run (default: here)")
    parser.add_argument("--environments-dir", metavar="DIR", help="Environment files (default: PROJECT/environments)")
    parser.add_argument("--env", dest="default_env", metavar="NAME", help="Environment when a request names none")
    parser.add_argument("--cache-for", type=duration, default=60.0, metavar="DURATION", help="Keep a verdict (60s)")
    parser.add_argument("--run-timeout", type=duration, default=600.0, metavar="DURATION", help="A run's deadline")
    parser.add_argument(
        "--run-grace",
        type=duration,
        default=30.0,
        metavar="DURATION",
        help="From SIGTERM at the run's deadline to SIGKILL of its process group (30s)",
    )
    parser.add_argument(
        "--max-runs",
        type=positive,
        default=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1,
        metavar="N",
        help="Runs at once; beyond, 503 with Retry-After (default: the number of cores it may use)",
    )
    parser.add_argument(
        "--read-timeout",
        type=duration,
        default=10.0,
        metavar="DURATION",
        help="For a request's head, and then its body, to arrive (10s); slower clients are cut off",
    )
    parser.add_argument(
        "--max-connections", type=positive, default=512, metavar="N", help="Open connections; beyond, 503 (512)"
    )
    parser.add_argument(
        "--answer-within", type=duration, default=8.0, metavar="DURATION", help="Argo: 503 after this (8s)"
    )
    parser.add_argument(
        "--flagger-wait", type=duration, default=50.0, metavar="DURATION", help="Flagger: 503 after this (50s)"
    )
    parser.add_argument(
        "--pytest-arg", action="append", default=[], metavar="ARG", help="Passed to each run (repeat: -n, 2)"
    )


class Server(ThreadingHTTPServer):
    """One thread per connection, at most `max_connections` of them, each reading under a deadline: a slow client
    holds a thread for at most the read timeout, and a flood of connections gets 503s, not threads."""

    daemon_threads = True
    block_on_close = False  # shutting down never waits for a slow client
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], token: str, runs: Runs, catalogue: Catalogue, options: argparse.Namespace
    ) -> None:
        super().__init__(address, Handler)
        self.token = token
        # What the server says itself (an error, the log) may echo what a client sent: the token in its forms masked.
        self.token_forms = sorted({token, quote(token), quote(token, safe=""), json.dumps(token)[1:-1]}, key=len)[::-1]
        self.runs = runs
        self.catalogue = catalogue
        self.options = options
        self._connections = 0
        self._connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            full = self._connections >= self.options.max_connections
            self._connections += 0 if full else 1
        if full:
            _refuse_connection(request, math.ceil(self.options.read_timeout))
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._connection_ended()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._connection_ended()

    def _connection_ended(self) -> None:
        with self._connections_lock:
            self._connections -= 1

    def mask(self, text: str) -> str:
        for form in self.token_forms:
            text = text.replace(form, "***")
        return text

    def handle_error(self, request: Any, client_address: Any) -> None:  # a client that vanished: one line, no trace
        error = sys.exc_info()[1]
        log.info("connection from %s ended: %s", client_address[0], type(error).__name__)


def _refuse_connection(request: socket.socket, retry_after_s: int) -> None:
    """503 straight from the accepting thread: one small write that cannot block, then the connection is closed."""
    body = json.dumps({"error": "too many connections; ask again later"}).encode()
    head = (
        f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"Retry-After: {retry_after_s}\r\nConnection: close\r\n\r\n"
    )
    try:
        request.setblocking(False)
        request.send(head.encode() + body)
    except OSError:
        pass


def serve_forever(arguments: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s deploycheck serve: %(message)s", stream=sys.stderr)
    token = os.environ.get(arguments.token_env, "")
    if not token:
        print(f"deploycheck serve: ${arguments.token_env} is empty or unset: set the bearer token", file=sys.stderr)
        return USAGE_ERROR
    project = Path(arguments.project).resolve()
    environments = (
        Path(arguments.environments_dir).resolve() if arguments.environments_dir else project / "environments"
    )
    if not available_environments(environments):
        print(f"deploycheck serve: no environment files (*.yaml) in {environments}", file=sys.stderr)
        return USAGE_ERROR
    settings = RunSettings(
        project=project,
        environments_dir=environments,
        cache_for_s=arguments.cache_for,
        run_timeout_s=arguments.run_timeout,
        grace_s=arguments.run_grace,
        max_runs=arguments.max_runs,
        pytest_args=tuple(arguments.pytest_arg),
    )
    runs = Runs(settings)
    server = Server((arguments.bind, arguments.port), token, runs, Catalogue(environments), arguments)
    host, port = str(server.server_address[0]), int(server.server_address[1])
    # One JSON line on stdout, as the demo does, so whoever started the server learns its address.
    print(json.dumps({"listening": f"http://{host}:{port}"}), flush=True)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        runs.stop()
        server.server_close()
    return 0


class Handler(BaseHTTPRequestHandler):
    server: Server
    protocol_version = "HTTP/1.1"
    default_request_version = "HTTP/1.1"  # so even a garbled request line is answered with a status and headers
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms wait on a delayed ACK

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # the plain socket file: its reads would each wait the whole timeout again
        self.reader = DeadlineReader(self.connection)
        self.rfile = io.BufferedReader(self.reader)
        self.body_unread = False

    def handle_one_request(self) -> None:
        self.command, self.path, self.request_version = "", "", self.default_request_version  # none read yet
        self.reader.start_head(self.server.options.read_timeout)  # for the request line and headers (and idling)
        try:
            super().handle_one_request()
        except HeadTooLarge as error:
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, str(error))

    def log_message(self, format: str, *args: Any) -> None:  # the access log is ours (_send)
        pass

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """What http.server answers itself (a bad request line, headers too long, an unknown method), as JSON."""
        self.body_unread = True  # the request was not understood: nothing after it can be trusted
        status = HTTPStatus(code)
        self._send(status, {"error": message or status.phrase}, time.monotonic())

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        started = time.monotonic()
        self.body_unread = declares_body(self.headers)
        url = urlsplit(self.path)
        hook = url.path.removeprefix("/flagger/")
        try:
            if method == "GET" and url.path == "/healthz":
                body_length(self.headers, 0)
                return self._send(HTTPStatus.OK, {"status": "ok"}, started)
            if method == "GET" and url.path == "/argo":
                return self._argo(url.query, started)
            if method == "POST" and url.path.startswith("/flagger/") and hook in FLAGGER_HOOKS:
                return self._flagger(hook, started)
            raise BadRequest(HTTPStatus.NOT_FOUND, f"no such endpoint: {method} {url.path[:100]}")
        except BadRequest as error:
            self._send(error.status, {"error": str(error)}, started, retry_after_s=error.retry_after_s)
        except TimeoutError:
            self._send(HTTPStatus.REQUEST_TIMEOUT, {"error": "the body took longer than the read timeout"}, started)
        except Exception:  # a bug of ours: the client learns nothing of it but that
            log.exception("%s %s broke", method, url.path[:100])
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "the server broke; see its log"}, started)

    # -- Argo Rollouts -------------------------------------------------------------------------------------------

    def _argo(self, query: str, started: float) -> None:
        self._authorize(self.headers.get("Authorization", ""))
        body_length(self.headers, 0)  # a GET has no body: one that says otherwise is refused, never read
        parameters = {key: values[-1] for key, values in parse_qs(query).items()}
        try:
            target = self._target(parameters)
            run = self._run(target)
            if not run.wait(self.server.options.answer_within - (time.monotonic() - started)):
                return self._send(HTTPStatus.SERVICE_UNAVAILABLE, _running(run), started, target)
            answer = run.answer()
        except BadRequest:
            raise
        except Exception as error:  # Argo aborts the rollout on errors: our own breakage is a hold instead
            if not isinstance(error, Unjudgeable):
                log.exception("answering %s", parameters)
            answer = {"verdict": "INCONCLUSIVE", "action": "hold", "error": _reason(error)}
            return self._send(HTTPStatus.OK, answer, started)
        self._send(HTTPStatus.OK, answer, started, target)

    # -- Flagger -------------------------------------------------------------------------------------------------

    def _flagger(self, hook: str, started: float) -> None:
        header = self.headers.get("Authorization")
        if header is not None:  # checked before a byte of the body is read
            self._authorize(header)
        body = self._json_body()
        metadata = body.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise BadRequest(HTTPStatus.BAD_REQUEST, "metadata must be an object")
        if header is None:  # Flagger sends no headers: its token travels in metadata.token
            self._authorize(f"Bearer {metadata.get('token') or ''}")
        parameters = {"service": body.get("name"), **{k: v for k, v in metadata.items() if k != "token"}}
        try:
            target = self._target(parameters)
        except Unjudgeable as error:  # not a yes to any hook: no rollout step passes, nothing is promoted
            answer = {"verdict": "INCONCLUSIVE", "action": "hold", "error": _reason(error)}
            return self._send(HTTPStatus.SERVICE_UNAVAILABLE, answer, started)
        if hook == "rollback":  # asked over and over while the canary runs: reads a verdict, never starts a run
            found = self.server.runs.get(target, start=False)
            if found is None or not found.done.is_set():
                return self._send(HTTPStatus.CONFLICT, {"rollback": False, "why": "no verdict yet"}, started, target)
            failed = found.verdict == "FAIL"
            status = HTTPStatus.OK if failed else HTTPStatus.CONFLICT
            return self._send(status, {"rollback": failed, **found.answer()}, started, target)
        run = self._run(target)
        if not run.wait(self.server.options.flagger_wait - (time.monotonic() - started)):
            return self._send(HTTPStatus.SERVICE_UNAVAILABLE, _running(run), started, target)
        verdict = run.verdict
        if hook == "confirm-promotion":
            status = HTTPStatus.OK if verdict == "PASS" else HTTPStatus.CONFLICT
        else:
            status = {"PASS": HTTPStatus.OK, "FAIL": HTTPStatus.INTERNAL_SERVER_ERROR}.get(
                verdict, HTTPStatus.SERVICE_UNAVAILABLE
            )
        self._send(status, run.answer(), started, target)

    # -- the parts -----------------------------------------------------------------------------------------------

    def _authorize(self, header: str) -> None:
        given = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        if not given or not hmac.compare_digest(given.encode(), self.server.token.encode()):
            raise BadRequest(HTTPStatus.UNAUTHORIZED, "a bearer token is needed (Authorization: Bearer <token>)")

    def _target(self, parameters: dict[str, Any]) -> Target:
        """The target named, if its environment file configures it: 400 for a bad name, 404 for an unknown one."""
        env = parameters.get("env") or self.server.options.default_env
        service, version = parameters.get("service"), parameters.get("version") or None
        for key, value in (("env", env), ("service", service), ("version", version)):
            if value is None and key != "version":
                raise BadRequest(HTTPStatus.BAD_REQUEST, f"{key} is missing")
            if value is not None and not NAME.match(str(value)):
                raise BadRequest(HTTPStatus.BAD_REQUEST, f"{key}: not a name: {str(value)[:60]!r}")
        try:
            self.server.catalogue.check(str(env), str(service))
        except UnknownName as error:
            raise BadRequest(HTTPStatus.NOT_FOUND, str(error)) from None
        except (ConfigError, OSError) as error:
            log.warning("environment %s cannot be read: %s", env, error)
            raise Unjudgeable(f"the environment file of {env} cannot be read (see the server's log)") from None
        return Target(str(env), str(service), None if version is None else str(version))

    def _run(self, target: Target) -> Run:
        """The run for target, started if need be; 503 with Retry-After when every run slot is taken."""
        try:
            run = self.server.runs.get(target)
        except Busy as error:
            raise BadRequest(HTTPStatus.SERVICE_UNAVAILABLE, str(error), retry_after_s=RETRY_AFTER_S) from None
        assert run is not None
        return run

    def _json_body(self) -> dict[str, Any]:
        length = body_length(self.headers, MAX_BODY_BYTES)
        self.reader.start(self.server.options.read_timeout)
        data = self.rfile.read(length) if length else b""
        if len(data) < length:
            raise BadRequest(HTTPStatus.BAD_REQUEST, "the body ended before its Content-Length")
        self.body_unread = False
        try:
            body = json.loads(data or b"{}")
        except (ValueError, RecursionError):
            raise BadRequest(HTTPStatus.BAD_REQUEST, "the body is not JSON") from None
        if not isinstance(body, dict):
            raise BadRequest(HTTPStatus.BAD_REQUEST, "the body must be a JSON object")
        return body

    def _send(
        self,
        status: HTTPStatus,
        body: dict[str, Any],
        started: float,
        target: Target | None = None,
        retry_after_s: int | None = None,
    ) -> None:
        data = json.dumps(body).encode()
        if "error" in body:  # verdict documents come redacted from the suite; the server's own words are masked here
            data = self.server.mask(data.decode()).encode()
        self.connection.settimeout(self.server.options.read_timeout)  # a client that does not read is let go too
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if retry_after_s is not None:
            self.send_header("Retry-After", str(retry_after_s))
        if self.body_unread:  # what follows on this connection would be read as the next request: no
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        took = time.monotonic() - started
        said = self.server.mask(str(body.get("verdict") or body.get("status") or body.get("error", "")))
        log.info(
            "%s %s %s -> %d %s (%.2fs) from %s",
            self.command or "-",
            self.server.mask(urlsplit(self.path).path[:100]),
            target or "",
            status,
            said,
            took,
            self.client_address[0],
        )


def _running(run: Run) -> dict[str, Any]:
    return {"status": "running", "target": str(run.target), "running_for_s": round(time.monotonic() - run.started, 1)}


def _reason(error: Exception) -> str:
    return str(error) if isinstance(error, Unjudgeable) else f"the server broke: {type(error).__name__}"
