"""`python -m demo`: serve demo services on loopback, one port each, in one process.

Prints one JSON line to stdout once every service listens:
    {"pid": 123, "services": {"orders": "http://127.0.0.1:40123"}, "admin": "http://127.0.0.1:40124"}
Logs go to stderr.  SIGTERM/SIGINT stop everything and exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from .admin import create_admin_app
from .app import DEMO_USER, SMOKE_USER
from .faults import MODES, FaultError, validate_modes
from .runner import STOP_TIMEOUT, Service, ServiceRunner
from .store import Store
from .traffic import Traffic

log = logging.getLogger("demo")

DEFAULT_VERSION = "v2.3.1"
MAX_TRAFFIC_RPS = 1000


def _service_spec(text: str) -> tuple[str, int]:
    """Parse SERVICE[:PORT]."""
    name, sep, port = text.rpartition(":")
    if not sep:
        name, port = text, "0"
    if not name or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"expected SERVICE[:PORT], got {text!r}")
    return name, int(port)


def _assignment(text: str) -> tuple[str, str]:
    """Parse SERVICE=VALUE."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected SERVICE=VALUE, got {text!r}")
    return name, value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m demo",
        description="Serve demo services (one port each) for deploycheck.",
        epilog="fault modes:\n" + "\n".join(f"  {m:14} {d}" for m, d in MODES.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "services",
        nargs="+",
        type=_service_spec,
        metavar="SERVICE[:PORT]",
        help="service to serve; PORT 0 or omitted picks a free port",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    parser.add_argument("--admin-port", type=int, default=0, help="admin server port (default: free port)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="minimum latency of every endpoint")
    parser.add_argument("--version", default=DEFAULT_VERSION, help="version all services report (default %(default)s)")
    parser.add_argument(
        "--version-of",
        action="append",
        default=[],
        type=_assignment,
        metavar="SERVICE=VER",
        help="version one service reports (repeatable)",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        type=_assignment,
        metavar="SERVICE=MODE[,MODE]",
        help="fault modes a service starts in (repeatable)",
    )
    parser.add_argument(
        "--traffic-rps",
        type=int,
        default=0,
        metavar="N",
        help="requests per second each service sends itself as background user traffic (default: none)",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=os.environ.get("DEPLOYCHECK_DEMO_STATE_DIR") or None,
        metavar="DIR",
        help="keep each service's accounts, tokens, orders, payments and reports in DIR/SERVICE.sqlite3 "
        "(default: $DEPLOYCHECK_DEMO_STATE_DIR, else in memory)",
    )
    parser.add_argument("--access-log", action="store_true", help="log every request to stderr")
    parser.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    args = parser.parse_args(argv)

    names = [name for name, _ in args.services]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        parser.error(f"service(s) given more than once: {', '.join(duplicates)}")
    if args.latency_ms < 0:
        parser.error("--latency-ms must be >= 0")
    if not 0 <= args.traffic_rps <= MAX_TRAFFIC_RPS:
        parser.error(f"--traffic-rps must be from 0 to {MAX_TRAFFIC_RPS}")
    faults: dict[str, set[str]] = {}
    for name, value in args.fault:
        if name not in names:
            parser.error(f"--fault for unknown service {name!r}")
        try:
            faults.setdefault(name, set()).update(validate_modes(value.split(",")))
        except FaultError as exc:
            parser.error(str(exc))
    args.faults = faults
    versions = dict(args.version_of)
    unknown = sorted(versions.keys() - set(names))
    if unknown:
        parser.error(f"--version-of for unknown service(s): {', '.join(unknown)}")
    args.versions = versions
    return args


def open_store(state_dir: Path | None, service: str) -> Store:
    """The service's store, with the demo account, the local smoke account and, when the demo's environment sets
    SMOKE_USER and SMOKE_PASSWORD, that account too (so a run's smoke account works against the demo)."""
    if state_dir is not None:
        state_dir.mkdir(parents=True, exist_ok=True)
    store = Store(state_dir / f"{service}.sqlite3" if state_dir is not None else None)
    for username, password in (DEMO_USER, SMOKE_USER):
        store.add_account(username, password)
    if os.environ.get("SMOKE_USER") and os.environ.get("SMOKE_PASSWORD"):
        store.add_account(os.environ["SMOKE_USER"], os.environ["SMOKE_PASSWORD"])
    return store


async def serve(args: argparse.Namespace) -> int:
    """Start everything, print the JSON line, wait for a signal, stop everything."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    try:
        services = {
            name: Service(
                name,
                args.host,
                port,
                version=args.versions.get(name, args.version),
                latency=args.latency_ms / 1000,
                faults=args.faults.get(name, ()),
                access_log=args.access_log,
                store=open_store(args.state_dir, name),
            )
            for name, port in args.services
        }
        admin = ServiceRunner("admin", create_admin_app(services), args.host, args.admin_port)
    except OSError as exc:
        log.error("cannot bind: %s", exc)
        return 1
    runners = [s.runner for s in services.values()] + [admin]
    traffic = [Traffic(s, args.traffic_rps) for s in services.values()] if args.traffic_rps else []

    try:
        await asyncio.gather(admin.start(), *(s.start() for s in services.values()))
        for t in traffic:
            t.start()
        line = {"pid": os.getpid(), "services": {n: s.runner.url for n, s in services.items()}, "admin": admin.url}
        print(json.dumps(line), flush=True)
        log.info("serving %d service(s); admin at %s", len(services), admin.url)
        await stop.wait()
    finally:
        log.info("shutting down")
        # Traffic first, so no request of ours meets a server on its way down.
        await asyncio.gather(*(t.stop() for t in traffic))
        # Each stop() is bounded (graceful, then forced); the outer bound is a backstop.
        stopping = asyncio.gather(*(r.stop(keep_port=False) for r in runners), return_exceptions=True)
        try:
            await asyncio.wait_for(stopping, STOP_TIMEOUT + 0.5)
        except TimeoutError:
            log.warning("some servers did not stop in time")
        for r in runners:
            r.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s demo[%(process)d] %(levelname)s %(name)s: %(message)s",
    )
    if args.access_log:
        logging.getLogger("uvicorn.access").setLevel(logging.INFO)
    try:
        return asyncio.run(serve(args))
    except BrokenPipeError:  # whoever read the JSON line went away; nothing left to tell
        return 0


if __name__ == "__main__":
    sys.exit(main())
