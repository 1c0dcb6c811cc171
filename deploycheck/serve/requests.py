"""How `deploycheck serve` reads a request from a client it does not trust: within a deadline, and never more than
it declared it would accept.

- `DeadlineReader`: the socket under the handler's `rfile`. Every read gets what is left of one deadline, so a
  client that sends a byte every few seconds (slowloris) is cut off when the deadline passes, not kept forever by a
  per-read timeout that each byte renews; and a request head is read up to `MAX_HEAD_BYTES` (http.server alone
  would take 100 header lines of 64 KiB each, 6.5 MB a connection).
- `body_length`: the body's framing, judged from the headers alone, before a byte of it is read.
"""

from __future__ import annotations

import io
import re
import socket
import time
from email.message import Message
from http import HTTPStatus

MAX_HEAD_BYTES = 32 * 1024  # the request line and headers
_DIGITS = re.compile(r"[0-9]{1,20}")  # int() would also take "+5", " 5", "5_0" and non-ASCII digits


class BadRequest(Exception):
    """Answered with `status` and `{"error": message}`; the message never holds what the client sent as a secret."""

    def __init__(self, status: HTTPStatus, message: str, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s


class HeadTooLarge(Exception):
    pass


class DeadlineReader(io.RawIOBase):
    """Reads from `connection` until `deadline` (time.monotonic()), then raises TimeoutError; and, when given a
    number of bytes, no more than that (then HeadTooLarge)."""

    def __init__(self, connection: socket.socket) -> None:
        self.connection = connection
        self.deadline = time.monotonic()
        self.bytes_left: int | None = None

    def start(self, seconds: float, most_bytes: int | None = None) -> None:
        """The reads from now on must be done within `seconds` (and read at most `most_bytes`)."""
        self.deadline = time.monotonic() + seconds
        self.bytes_left = most_bytes

    def start_head(self, seconds: float) -> None:
        # The buffered reader above may read ahead a buffer's worth past the head: that is not the head's fault.
        self.start(seconds, MAX_HEAD_BYTES + io.DEFAULT_BUFFER_SIZE)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the client took longer than the read timeout")
        if self.bytes_left is not None and self.bytes_left <= 0:
            raise HeadTooLarge(f"the request line and headers are over {MAX_HEAD_BYTES} bytes")
        self.connection.settimeout(left)
        wanted = len(buffer) if self.bytes_left is None else min(len(buffer), self.bytes_left)
        got = self.connection.recv_into(buffer, wanted)
        if self.bytes_left is not None:
            self.bytes_left -= got
        return got


def body_length(headers: Message, limit: int) -> int:
    """The body's length from `Content-Length`, or BadRequest: 411 for a chunked (or any other transfer-encoded)
    body, 400 for a length that is not one number of digits, 413 for one over `limit`."""
    if headers.get("Transfer-Encoding") is not None:
        raise BadRequest(HTTPStatus.LENGTH_REQUIRED, "send the body with a Content-Length, not a Transfer-Encoding")
    lengths = headers.get_all("Content-Length") or []
    if not lengths:
        return 0
    if len(lengths) > 1:
        raise BadRequest(HTTPStatus.BAD_REQUEST, "more than one Content-Length")
    text = lengths[0].strip()
    if not _DIGITS.fullmatch(text):
        raise BadRequest(HTTPStatus.BAD_REQUEST, "Content-Length must be a number of bytes from 0 up")
    if int(text) > limit:
        raise BadRequest(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"the body is over {limit} bytes")
    return int(text)


def declares_body(headers: Message) -> bool:
    """Does the request say a body follows? (Then the connection closes unless the body was read.)"""
    length = headers.get("Content-Length")
    return headers.get("Transfer-Encoding") is not None or (length is not None and length.strip() != "0")
