"""`python -m deploycheck serve` under abuse: does a legitimate request still get its verdict, and at what cost?

The load, kept up while the legitimate request runs: `--slow` slowloris connections (a request head that never
ends: one header line a second, reconnecting whenever the server cuts one off) and `--unknown` connections that ask,
one request after another, for made-up service names. The legitimate request is an Argo `/argo` for a service the
environment configures, whose run is the whole suite against the demo; it is timed once on an idle server first.

Printed: the legitimate request's latency (idle, under load) and verdict; the peak RSS of the server and every
process under it (its runs); the peak of the server's threads; runs started; what the abusers were answered.

    python bench/serve_abuse.py [--slow 200] [--unknown 100] [--read-timeout 10s]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from serve_answers import TOKEN, environment

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from deploycheck import demo  # noqa: E402
from deploycheck.config.loader import Demo  # noqa: E402
from tests.processes import descendants  # noqa: E402


class Load:
    """The abusers, on an event loop of their own in a thread (one bench thread, however many connections)."""

    def __init__(self, host: str, port: int, slow: int, unknown: int) -> None:
        self.host, self.port, self.slow, self.unknown = host, port, slow, unknown
        self.open_slow = 0
        self.cut_off = 0  # slow connections the server closed
        self.longest_s = 0.0  # the longest a slow connection lasted before the server closed it
        self.answers: collections.Counter[int] = collections.Counter()  # status -> count, for the made-up names
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._all()), daemon=True)

    async def _all(self) -> None:
        tasks = [*(self._slowloris() for _ in range(self.slow)), *(self._made_up(i) for i in range(self.unknown))]
        await asyncio.gather(*tasks)

    async def _slowloris(self) -> None:
        while not self.stopping.is_set():
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port)
            except OSError:
                await asyncio.sleep(0.1)
                continue
            self.open_slow += 1
            opened = time.monotonic()
            try:
                writer.write(b"GET /argo?env=bench&service=svc-0 HTTP/1.1\r\nHost: bench\r\n")
                while not self.stopping.is_set():
                    await asyncio.sleep(1)
                    if reader.at_eof():
                        raise ConnectionResetError
                    writer.write(b"X-Still-Here: yes\r\n")
                    await writer.drain()
            except OSError:
                self.cut_off += 1
                self.longest_s = max(self.longest_s, time.monotonic() - opened)
            finally:
                self.open_slow -= 1
                writer.close()

    async def _made_up(self, number: int) -> None:
        asked = 0
        while not self.stopping.is_set():
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port)
                while not self.stopping.is_set():
                    asked += 1
                    writer.write(
                        f"GET /argo?env=bench&service=made-up-{number}-{asked} HTTP/1.1\r\nHost: bench\r\n"
                        f"Authorization: Bearer {TOKEN}\r\n\r\n".encode()
                    )
                    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                    lines = head.split("\r\n")
                    length = next(int(line[15:]) for line in lines if line.lower().startswith("content-length:"))
                    await reader.readexactly(length)
                    self.answers[int(head.split()[1])] += 1
                writer.close()
            except (OSError, asyncio.IncompleteReadError):
                self.answers[0] += 1  # the connection broke
                await asyncio.sleep(0.1)


class Sampler:
    """Every 50 ms: the RSS of the server and everything under it, its threads, and how many runs are going."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_rss_kib = self.peak_threads = self.peak_runs = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self.stopping.wait(0.05):
            try:
                under = descendants(self.pid)
                rss = sum(_status(pid, "VmRSS") for pid in [self.pid, *under])
                threads = _status(self.pid, "Threads")
            except (OSError, ValueError):
                continue  # a process ended while it was read
            runs = sum(1 for pid in under if b"pytest" in _cmdline(pid))
            self.peak_rss_kib = max(self.peak_rss_kib, rss)
            self.peak_threads = max(self.peak_threads, threads)
            self.peak_runs = max(self.peak_runs, runs)


def _status(pid: int, key: str) -> int:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return int(next((line.split()[1] for line in lines if line.startswith(f"{key}:")), 0))  # a zombie has no RSS


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def legitimate(client: httpx.Client, url: str, service: str) -> tuple[float, str]:
    """Time to the verdict, asking again a second after a 503 or a refused connection, as Argo would (later)."""
    started, tries = time.perf_counter(), 0
    while True:
        tries += 1
        try:
            answer = client.get(f"{url}/argo", params={"env": "bench", "service": service}, timeout=300)
            if answer.status_code != 503:
                break
        except httpx.TransportError:
            pass
        time.sleep(1)
    answer.raise_for_status()
    return time.perf_counter() - started, f"{answer.json()['verdict']} ({tries} request{'s' * (tries > 1)})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--slow", type=int, default=200)
    parser.add_argument("--unknown", type=int, default=100)
    parser.add_argument("--read-timeout", default="10s")
    options = parser.parse_args()
    running = demo.start(Demo(services=("svc-0", "svc-1")))
    with tempfile.TemporaryDirectory() as scratch:
        environment(Path(scratch), running.urls)
        command = [sys.executable, "-m", "deploycheck", "serve", "--port", "0", "--project", str(REPO),
                   "--environments-dir", scratch, "--answer-within", "300s", "--cache-for", "10m",
                   "--read-timeout", options.read_timeout]  # fmt: skip
        server = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env={**os.environ, "DEPLOYCHECK_SERVE_TOKEN": TOKEN},
        )  # fmt: skip
        sampler = Sampler(server.pid)
        try:
            assert server.stdout is not None
            url = json.loads(server.stdout.readline())["listening"]
            host, port = url.removeprefix("http://").rsplit(":", 1)
            client = httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"})
            idle, idle_verdict = legitimate(client, url, "svc-0")
            idle_threads = _status(server.pid, "Threads")
            load = Load(host, int(port), options.slow, options.unknown)
            load.thread.start()
            deadline = time.monotonic() + 30
            while (load.open_slow < options.slow or sum(load.answers.values()) < options.unknown) and (
                time.monotonic() < deadline
            ):
                time.sleep(0.05)  # until every abuser is in place
            sampler.thread.start()
            slow_at_start = load.open_slow
            loaded, loaded_verdict = legitimate(client, url, "svc-1")
            answered_during = dict(load.answers)
            while load.cut_off < options.slow and time.monotonic() < deadline + 60:
                time.sleep(0.05)  # the load goes on until the server has cut off every slow connection once
            load.stopping.set()
            sampler.stopping.set()
            sampler.thread.join()
        finally:
            server.terminate()
            server.wait(40)
            running.stop()
    print(f"deploycheck serve under abuse: {options.slow} slowloris connections, {options.unknown} connections")
    print(f"asking for made-up services back to back; read timeout {options.read_timeout}; {os.cpu_count()} cores")
    print(f"  legitimate /argo, idle server:        {idle:6.2f} s  {idle_verdict}  ({idle_threads} server threads)")
    print(f"  legitimate /argo, under the load:     {loaded:6.2f} s  {loaded_verdict}")
    print(f"  slow connections open when it began: {slow_at_start}")
    print(f"  slow connections cut off by the server: {load.cut_off}, the longest after {load.longest_s:.1f} s")
    print(f"  answers to made-up names meanwhile:  {answered_during}  (status: count; 0 = connection broke)")
    print(f"  peak RSS, server + its children:      {sampler.peak_rss_kib / 1024:6.1f} MB")
    print(f"  peak server threads:                  {sampler.peak_threads} (one per open connection)")
    print(f"  peak runs (pytest processes) at once: {sampler.peak_runs}")


if __name__ == "__main__":
    main()
