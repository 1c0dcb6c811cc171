"""Misbehaving HTTP servers on 127.0.0.1, as pytest fixtures (issue 7: test against real hostile targets).

Use them from a test module with `pytest_plugins = ["tests.hostile_servers"]` (the helpers below may be imported
too: the module has no asserts to rewrite, hence PYTEST_DONT_REWRITE, which lets pytest register a module that is
already imported without a warning). Each fixture starts its server on a
free port, yields where to reach it, and stops it when the test ends. Every server answers any path and method:

    echo_server               200, JSON of the request: {"method", "path", "headers", "body"}
    echoing_server            the whole request echoed back, as JSON or (under /text) as one line of text, at an
                              offset (pad=N) and with a status (status=503) of the client's choosing
    dripping_body_server      status line and headers at once, then one byte of a healthy JSON body every 2 s
    dripping_headers_server   the status line, then one byte of a header every 2 s
    huge_body_server          200 MB of JSON-looking body with Content-Length, generated on the fly
    huge_chunked_body_server  the same without Content-Length (chunked)
    reset_server              reads the request, then closes with a TCP reset (SO_LINGER 0)
    refused_server            a port that is bound but does not listen: connection refused
    html_error_server         500 with a long HTML error page
    tls_server                TlsServer: echo over TLS; certificate for 127.0.0.1 from a test CA (`ca_file`)
    mtls_server               TlsServer: the same, requiring a client certificate (`cert_file`, `key_file`)

A server is threads around a listening socket: one accepting, one per connection. Each is bounded: handlers stop
at the stop event set on teardown, sockets time out, and teardown joins every thread.
For other behaviour, `serving(handler)` runs any `Handler` the same way.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import socket
import ssl
import struct
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.processes import unavailable

DRIP_INTERVAL_S = 2.0
HUGE_BODY_BYTES = 200 * 1024 * 1024
SOCKET_TIMEOUT_S = 10.0  # a connection the client abandons without closing still ends
MAX_REQUEST_BYTES = 1024 * 1024
HEALTHY_BODY = b'{"status": "healthy", "version": "v2.3.1"}'

Handler = Callable[[socket.socket, threading.Event], None]  # (connection, stop event); returns when done


# ---------------------------------------------------------------------------------------------------------------
# The server


class Server:
    """Serves `handler` on 127.0.0.1 (over TLS when given a server context) until `stop()`."""

    def __init__(self, handler: Handler, tls: ssl.SSLContext | None = None) -> None:
        self._handler = handler
        self._tls = tls
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
        self._listener.settimeout(0.1)  # so the accept loop sees the stop event
        self.stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.port: int = self._listener.getsockname()[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"

    def start(self) -> Server:
        self._spawn(self._accept_loop)
        return self

    def stop(self) -> None:
        self.stopping.set()
        with self._lock:
            threads, connections = list(self._threads), list(self._connections)
        for connection in connections:  # wakes handlers blocked in recv or send
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(SOCKET_TIMEOUT_S)
        self._listener.close()

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True, name=f"hostile-{self.port}")
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._spawn(self._serve, connection)

    def _serve(self, connection: socket.socket) -> None:
        connection.settimeout(SOCKET_TIMEOUT_S)
        self._track(connection, True)
        try:
            if self._tls is not None:
                self._track(connection, False)
                connection = self._tls.wrap_socket(connection, server_side=True, do_handshake_on_connect=False)
                self._track(connection, True)
                if not _handshake(connection):
                    return
            self._handler(connection, self.stopping)
        except (OSError, ValueError):
            pass  # the client went away or refused our certificate: what it makes of that is the test's business
        finally:
            self._track(connection, False)
            connection.close()

    def _track(self, connection: socket.socket, open_: bool) -> None:
        with self._lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)


def _handshake(connection: ssl.SSLSocket) -> bool:
    try:
        connection.do_handshake()
        return True
    except ssl.SSLError:
        # As a real server does: stop writing and read what the client still sends before closing, so that it
        # reads our TLS alert ("certificate required") rather than a reset caused by its unread request.
        connection.shutdown(socket.SHUT_WR)
        connection.settimeout(1.0)
        with contextlib.suppress(OSError):
            while connection.recv(65536):
                pass
        return False


@contextlib.contextmanager
def serving(handler: Handler, tls: ssl.SSLContext | None = None) -> Iterator[Server]:
    server = Server(handler, tls).start()
    try:
        yield server
    finally:
        server.stop()


# ---------------------------------------------------------------------------------------------------------------
# Reading a request, writing an answer


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes


def read_request(connection: socket.socket) -> Request:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk or len(data) > MAX_REQUEST_BYTES:
            raise ConnectionError("no complete request")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    method, path, _ = request_line.split(" ", 2)
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = min(int(headers.get("content-length", "0") or 0), MAX_REQUEST_BYTES)
    while len(body) < length:
        chunk = connection.recv(65536)
        if not chunk:
            break
        body += chunk
    return Request(method, path, headers, body)


def head(status: str, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status}", *(f"{name}: {value}" for name, value in headers.items()), "", ""]
    return "\r\n".join(lines).encode("latin-1")


def respond(connection: socket.socket, status: str, body: bytes, content_type: str = "application/json") -> None:
    headers = {"Content-Type": content_type, "Content-Length": str(len(body)), "Connection": "close"}
    connection.sendall(head(status, headers) + body)


# ---------------------------------------------------------------------------------------------------------------
# Handlers


def echo(connection: socket.socket, stop: threading.Event) -> None:
    request = read_request(connection)
    answer = {
        "method": request.method,
        "path": request.path,
        "headers": request.headers,
        "body": request.body.decode("utf-8", errors="replace"),
    }
    respond(connection, "200 OK", json.dumps(answer).encode())


def echo_everything(connection: socket.socket, stop: threading.Event) -> None:
    """The request line, every header and the body, after N characters (`pad=N` anywhere in the path or query) so
    that a test can put what it sent at any offset of the answer, with the status `status=NNN` (default 200; in the
    path too, for clients that build their own paths under a base URL). Under /text the answer is one line of text;
    anything else gets JSON, which also holds the headers and body as one text under `version` and `error`."""
    request = read_request(connection)
    pad_asked, status_asked = re.search(r"pad=(\d+)", request.path), re.search(r"status=(\d{3})", request.path)
    pad = "x" * int(pad_asked[1]) if pad_asked else ""
    status = int(status_asked[1]) if status_asked else 200
    line = f"{request.method} {request.path} HTTP/1.1"
    body = request.body.decode("utf-8", errors="replace")
    if request.path.startswith("/text"):
        headers = "; ".join(f"{name}: {value}" for name, value in request.headers.items())
        respond(connection, f"{status} Echo", f"{pad}{line} | {headers} | {body}".encode(), "text/plain")
    else:
        # Headers as [name, value] pairs, as a raw echo lists them: no "key": "value" to give a credential away. The
        # headers (by name) and body also as one text in the fields clients quote: `version`, and `error`
        # (Prometheus's).
        pairs = list(request.headers.items())
        text = f"{json.dumps(sorted(pairs))} {body}"
        answer = {"pad": pad, "request": line, "headers": pairs, "body": body, "version": text, "error": text}
        respond(connection, f"{status} Echo", json.dumps(answer).encode())


def drip_body(connection: socket.socket, stop: threading.Event) -> None:
    """A healthy answer, one body byte every DRIP_INTERVAL_S: each read succeeds, the whole never ends in time."""
    read_request(connection)
    connection.sendall(head("200 OK", {"Content-Type": "application/json", "Content-Length": str(len(HEALTHY_BODY))}))
    _drip(connection, stop, HEALTHY_BODY)


def drip_headers(connection: socket.socket, stop: threading.Event) -> None:
    read_request(connection)
    connection.sendall(b"HTTP/1.1 200 OK\r\n")
    _drip(connection, stop, b"X-Slowly: " + b"x" * 1000 + b"\r\n\r\n")


def _drip(connection: socket.socket, stop: threading.Event, data: bytes) -> None:
    for i in range(len(data)):
        if stop.wait(DRIP_INTERVAL_S if i else 0):
            return
        connection.sendall(data[i : i + 1])


def huge_body(connection: socket.socket, stop: threading.Event) -> None:
    read_request(connection)
    headers = {"Content-Type": "application/json", "Content-Length": str(HUGE_BODY_BYTES)}
    connection.sendall(head("200 OK", headers))
    for chunk in _huge_chunks(stop):
        connection.sendall(chunk)


def huge_chunked_body(connection: socket.socket, stop: threading.Event) -> None:
    read_request(connection)
    connection.sendall(head("200 OK", {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}))
    for chunk in _huge_chunks(stop):
        connection.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    connection.sendall(b"0\r\n\r\n")


def _huge_chunks(stop: threading.Event, chunk_size: int = 64 * 1024) -> Iterator[bytes]:
    """HUGE_BODY_BYTES of `{"status": "healthy", "padding": "xxx...xxx"}`: only a reader of the whole would parse it."""
    start, end = b'{"status": "healthy", "padding": "', b'"}'
    padding = b"x" * chunk_size
    yield start
    remaining = HUGE_BODY_BYTES - len(start) - len(end)
    while remaining > 0 and not stop.is_set():
        yield padding[: min(chunk_size, remaining)]
        remaining -= chunk_size
    yield end


def reset(connection: socket.socket, stop: threading.Event) -> None:
    read_request(connection)
    # Linger on, timeout 0: close() sends RST instead of FIN.
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()


HTML_ERROR_PAGE = (
    "<!DOCTYPE html>\n<html>\n<head><title>500 Internal Server Error</title></head>\n<body>\n"
    "<h1>Internal Server Error</h1>\n"
    + "".join(f"<p>Traceback line {i}: something deep inside the application went wrong</p>\n" for i in range(500))
    + "</body>\n</html>\n"
).encode()


def html_error(connection: socket.socket, stop: threading.Event) -> None:
    read_request(connection)
    respond(connection, "500 Internal Server Error", HTML_ERROR_PAGE, content_type="text/html; charset=utf-8")


# ---------------------------------------------------------------------------------------------------------------
# Fixtures: plain HTTP


@pytest.fixture
def echo_server() -> Iterator[str]:
    with serving(echo) as server:
        yield server.url


@pytest.fixture
def echoing_server() -> Iterator[str]:
    with serving(echo_everything) as server:
        yield server.url


@pytest.fixture
def dripping_body_server() -> Iterator[str]:
    with serving(drip_body) as server:
        yield server.url


@pytest.fixture
def dripping_headers_server() -> Iterator[str]:
    with serving(drip_headers) as server:
        yield server.url


@pytest.fixture
def huge_body_server() -> Iterator[str]:
    with serving(huge_body) as server:
        yield server.url


@pytest.fixture
def huge_chunked_body_server() -> Iterator[str]:
    with serving(huge_chunked_body) as server:
        yield server.url


@pytest.fixture
def reset_server() -> Iterator[str]:
    with serving(reset) as server:
        yield server.url


@pytest.fixture
def refused_server() -> Iterator[str]:
    # Bound but not listening: connecting is refused, and no other test can take the port meanwhile.
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{bound.getsockname()[1]}"


@pytest.fixture
def html_error_server() -> Iterator[str]:
    with serving(html_error) as server:
        yield server.url


# ---------------------------------------------------------------------------------------------------------------
# Fixtures: TLS


@dataclass(frozen=True)
class TlsFiles:
    ca_file: str  # the test CA's certificate: trust it to trust the servers
    server_chain: str  # the server's certificate (127.0.0.1, localhost) followed by the CA's
    server_key: str
    client_cert: str  # a client certificate from the same CA, for mTLS
    client_key: str


@dataclass(frozen=True)
class TlsServer:
    url: str
    ca_file: str
    cert_file: str | None = None  # a client certificate the server accepts (mtls_server only)
    key_file: str | None = None


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, made with `openssl` once per session."""
    if shutil.which("openssl") is None:
        unavailable("the openssl command is needed to make test certificates", "DEPLOYCHECK_REQUIRE_OPENSSL")
    return make_certificates(tmp_path_factory.mktemp("tls"))


def make_certificates(directory: Path) -> TlsFiles:
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True, timeout=30)

    new_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"]
    ca = ["-subj", "/CN=deploycheck test CA", "-addext", "basicConstraints=critical,CA:TRUE"]
    ca += ["-addext", "keyUsage=critical,keyCertSign,cRLSign"]
    openssl("req", "-x509", *new_key, "-keyout", "ca.key", "-out", "ca.pem", *ca)
    for name, usage, names in (
        ("server", "serverAuth", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
        ("client", "clientAuth", "subjectAltName=DNS:deploycheck-client"),
    ):
        # Full extensions: Python's default context checks certificates strictly (key identifiers, usages).
        extensions = directory / f"{name}.ext"
        extensions.write_text(
            f"basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage={usage}\n"
            f"{names}\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n"
        )
        openssl("req", *new_key, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN=deploycheck {name}")
        signing = ["-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-extfile", extensions.name]
        openssl("x509", "-req", "-in", f"{name}.csr", *signing, "-out", f"{name}.pem")
    chain = directory / "server-chain.pem"
    chain.write_text((directory / "server.pem").read_text() + (directory / "ca.pem").read_text())
    return TlsFiles(
        ca_file=str(directory / "ca.pem"),
        server_chain=str(chain),
        server_key=str(directory / "server.key"),
        client_cert=str(directory / "client.pem"),
        client_key=str(directory / "client.key"),
    )


def server_context(files: TlsFiles, require_client_cert: bool = False) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(files.server_chain, files.server_key)
    if require_client_cert:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(files.ca_file)
    return context


@pytest.fixture
def tls_server(tls_files: TlsFiles) -> Iterator[TlsServer]:
    with serving(echo, server_context(tls_files)) as server:
        yield TlsServer(server.url, tls_files.ca_file)


@pytest.fixture
def mtls_server(tls_files: TlsFiles) -> Iterator[TlsServer]:
    with serving(echo, server_context(tls_files, require_client_cert=True)) as server:
        yield TlsServer(server.url, tls_files.ca_file, tls_files.client_cert, tls_files.client_key)
