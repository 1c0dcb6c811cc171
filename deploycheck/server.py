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
"""

from __future__ import annotations

import argparse
import hmac
import json
import logging
import os
import re
import signal
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from deploycheck.config import ConfigError, available_environments, parse_duration
from deploycheck.serve_runs import Run, Runs, RunSettings, Target

log = logging.getLogger("deploycheck.serve")
USAGE_ERROR = 4
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:+-]{0,127}$")  # env, service, version: never an option, never a path
MAX_BODY_BYTES = 64 * 1024
FLAGGER_HOOKS = ("pre-rollout", "rollout", "confirm-promotion", "rollback")


class BadRequest(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    def duration(text: str) -> float:
        try:
            return parse_duration(text)
        except ConfigError as error:
            raise argparse.ArgumentTypeError(error.reason) from None

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
        "--answer-within", type=duration, default=8.0, metavar="DURATION", help="Argo: 503 after this (8s)"
    )
    parser.add_argument(
        "--flagger-wait", type=duration, default=50.0, metavar="DURATION", help="Flagger: 503 after this (50s)"
    )
    parser.add_argument(
        "--pytest-arg", action="append", default=[], metavar="ARG", help="Passed to each run (repeat: -n, 2)"
    )


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], token: str, runs: Runs, options: argparse.Namespace) -> None:
        super().__init__(address, Handler)
        self.token = token
        self.runs = runs
        self.options = options


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
        pytest_args=tuple(arguments.pytest_arg),
    )
    runs = Runs(settings)
    server = Server((arguments.bind, arguments.port), token, runs, arguments)
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
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms wait on a delayed ACK

    def log_message(self, format: str, *args: Any) -> None:  # the access log is ours (_send)
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        started = time.monotonic()
        url = urlsplit(self.path)
        try:
            if method == "GET" and url.path == "/healthz":
                return self._send(HTTPStatus.OK, {"status": "ok"}, started)
            if method == "GET" and url.path == "/argo":
                return self._argo(url.query, started)
            hook = url.path.removeprefix("/flagger/")
            if method == "POST" and url.path.startswith("/flagger/") and hook in FLAGGER_HOOKS:
                return self._flagger(hook, started)
            raise BadRequest(HTTPStatus.NOT_FOUND, f"no such endpoint: {method} {url.path}")
        except BadRequest as error:
            self._send(error.status, {"error": str(error)}, started)

    # -- Argo Rollouts -------------------------------------------------------------------------------------------

    def _argo(self, query: str, started: float) -> None:
        self._authorize(None)
        parameters = {key: values[-1] for key, values in parse_qs(query).items()}
        target = self._target(parameters)
        try:
            run = self.server.runs.get(target)
            assert run is not None
            if not run.wait(self.server.options.answer_within - (time.monotonic() - started)):
                return self._send(HTTPStatus.SERVICE_UNAVAILABLE, _running(run), started, target)
            answer = run.answer()
        except Exception as error:  # Argo aborts the rollout on errors: our own breakage is a hold instead
            log.exception("answering %s", target)
            answer = {"verdict": "INCONCLUSIVE", "action": "hold", "error": f"the server broke: {type(error).__name__}"}
        self._send(HTTPStatus.OK, answer, started, target)

    # -- Flagger -------------------------------------------------------------------------------------------------

    def _flagger(self, hook: str, started: float) -> None:
        body = self._json_body()
        metadata = body.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise BadRequest(HTTPStatus.BAD_REQUEST, "metadata must be an object")
        self._authorize(metadata.get("token"))
        target = self._target({"service": body.get("name"), **{k: v for k, v in metadata.items() if k != "token"}})
        if hook == "rollback":  # asked over and over while the canary runs: reads a verdict, never starts a run
            run = self.server.runs.get(target, start=False)
            if run is None or not run.done.is_set():
                return self._send(HTTPStatus.CONFLICT, {"rollback": False, "why": "no verdict yet"}, started, target)
            failed = run.verdict == "FAIL"
            status = HTTPStatus.OK if failed else HTTPStatus.CONFLICT
            return self._send(status, {"rollback": failed, **run.answer()}, started, target)
        run = self.server.runs.get(target)
        assert run is not None
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

    def _authorize(self, body_token: Any) -> None:
        header = self.headers.get("Authorization", "")
        given = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else str(body_token or "")
        if not given or not hmac.compare_digest(given.encode(), self.server.token.encode()):
            raise BadRequest(HTTPStatus.UNAUTHORIZED, "a bearer token is needed (Authorization: Bearer <token>)")

    def _target(self, parameters: dict[str, Any]) -> Target:
        env = parameters.get("env") or self.server.options.default_env
        service, version = parameters.get("service"), parameters.get("version") or None
        for key, value in (("env", env), ("service", service), ("version", version)):
            if value is None and key != "version":
                raise BadRequest(HTTPStatus.BAD_REQUEST, f"{key} is missing")
            if value is not None and not NAME.match(str(value)):
                raise BadRequest(HTTPStatus.BAD_REQUEST, f"{key}: not a name: {str(value)[:60]!r}")
        if env not in available_environments(self.server.runs.settings.environments_dir):
            raise BadRequest(HTTPStatus.NOT_FOUND, f"no environment file {env}.yaml")
        return Target(str(env), str(service), None if version is None else str(version))

    def _json_body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            raise BadRequest(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body too large")
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            raise BadRequest(HTTPStatus.BAD_REQUEST, "the body is not JSON") from None
        if not isinstance(body, dict):
            raise BadRequest(HTTPStatus.BAD_REQUEST, "the body must be a JSON object")
        return body

    def _send(self, status: HTTPStatus, body: dict[str, Any], started: float, target: Target | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        took = time.monotonic() - started
        said = body.get("verdict") or body.get("status") or body.get("error", "")
        path = urlsplit(self.path).path
        log.info(
            "%s %s %s -> %d %s (%.2fs) from %s",
            self.command,
            path,
            target or "",
            status,
            said,
            took,
            self.client_address[0],
        )


def _running(run: Run) -> dict[str, Any]:
    return {"status": "running", "target": str(run.target), "running_for_s": round(time.monotonic() - run.started, 1)}
