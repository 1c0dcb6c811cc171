"""A real webhook receiver on loopback, for the notification tests: records every POST; /ok answers 200, /fail
500, /hang answers only after the sender gave up (or the test ends)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


class Receiver:
    """An HTTP server on loopback that records every POST: /ok answers 200, /fail 500, /hang answers too late."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.received.append({"path": self.path, "headers": dict(self.headers), "body": json.loads(body)})
                if self.path.startswith("/hang"):
                    receiver.release.wait(10)
                status = 500 if self.path.startswith("/fail") else 200
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:  # /hang: the sender gave up, as it should
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [item["body"] for item in self.received if item["path"] == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver()
    started.thread.start()
    yield started
    started.release.set()
    started.server.shutdown()
    started.server.server_close()
