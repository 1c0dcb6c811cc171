"""Time to redact texts of 10 KB, 100 KB and 1 MB, of several shapes, against a floor.

Redaction runs on every message and observed value, and what a service answers can be large and hostile, so its
time must grow linearly with the text. For each shape and size this prints the best of a few runs of a `Redactor`
holding two known secrets, beside a floor: `str.replace` of one value over the same text, the least any redaction
could cost. The adversarial shapes are the ones that made the earlier patterns backtrack (a 100 KB string took 35 s).

    python bench/redaction.py [--sizes 10000,100000,1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from deploycheck.secrets import Redactor

SECRETS = ["tok-3f9a8b7c6d5e", "s3cr3t-pa55word"]
# Each shape is a unit repeated up to the size.
SHAPES: dict[str, str] = {
    "log lines with secrets": (
        "GET https://api:s3cr3t-pa55word@gw/v1?access_token=tok-3f9a8b7c6d5e&x=1 -> 503\n"
        "Authorization: Bearer tok-3f9a8b7c6d5e\nhost=db password=hunter22 dbname=app\n"
    ),
    "prose, no secrets": "The service answered 200 in 35 ms; version 1.4.2 (build 2024-05-01).\n",
    "html error page": "<html><head><title>502 Bad Gateway</title></head><body><h1>502</h1><p>nginx</p></body>\n",
    "adversarial 'a:'": "a:",
    "adversarial 'http://' + x": "x",  # after a single "http://"
    "adversarial 'http://a:'": "http://a:",
    "adversarial 'a@b:c'": "a@b:c",
    "adversarial 'token='": "token=",
    'adversarial \'"token": "\'': '"token": "',
}


def text_of(shape: str, size: int) -> str:
    unit = SHAPES[shape]
    prefix = "http://" if shape == "adversarial 'http://' + x" else ""
    return (prefix + unit * (size // len(unit) + 1))[:size]


def best_of(repeat: int, action: Callable[[], object]) -> float:
    """Seconds of the fastest of `repeat` runs (the least disturbed by other work on the machine)."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="Text sizes in characters, comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="Runs per measurement; the fastest is shown")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    redact = Redactor(SECRETS)

    print(f"{'shape':<28} {'size':>9} {'redact ms':>10} {'floor ms':>9} {'ratio':>7} {'µs/KB':>7}")
    for shape in SHAPES:
        for size in sizes:
            text = text_of(shape, size)
            redacted = best_of(args.repeat, lambda text=text: redact(text))
            floor = best_of(args.repeat, lambda text=text: text.replace(SECRETS[0], "***"))
            per_kb = redacted * 1e6 / (size / 1000)
            print(
                f"{shape:<28} {size:>9,} {redacted * 1000:>10.2f} {floor * 1000:>9.3f}"
                f" {redacted / max(floor, 1e-9):>7.0f} {per_kb:>7.1f}"
            )


if __name__ == "__main__":
    main()
