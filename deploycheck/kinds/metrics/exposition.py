"""The Prometheus text format, as a service exposes it on `/metrics`: parsed into plain samples, and selected with
PromQL's label matchers (`service="api",status=~"5.."`), so the figures Prometheus would compute can be computed
from two scrapes of the service itself when no Prometheus is at hand."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass


class ExpositionError(ValueError):
    """The text is not the Prometheus exposition format (or a matcher is not PromQL's)."""


@dataclass(frozen=True)
class Sample:
    name: str  # the sample's own name: http_request_duration_seconds_bucket, http_requests_total, ...
    labels: Mapping[str, str]
    value: float


@dataclass(frozen=True)
class Snapshot:
    """One scrape: every sample, and when it was taken (unix seconds)."""

    samples: tuple[Sample, ...]
    taken_at: float

    def select(self, name: str, matchers: str = "") -> list[Sample]:
        """The samples called `name` whose labels satisfy every matcher."""
        wanted = parse_matchers(matchers)
        return [s for s in self.samples if s.name == name and all(m.matches(s.labels) for m in wanted)]


def parse_exposition(text: str, taken_at: float) -> Snapshot:
    """Parse the text format; a line that is not the format raises ExpositionError saying which."""
    # Imported here: a run that never scrapes a service's /metrics does not pay for it (about 20 ms).
    from prometheus_client.parser import text_string_to_metric_families

    try:
        samples = tuple(
            Sample(sample.name, dict(sample.labels), float(sample.value))
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        )
    except (ValueError, TypeError, IndexError, KeyError) as error:
        raise ExpositionError(f"not the Prometheus text format: {str(error).splitlines()[0][:200]}") from None
    return Snapshot(samples, taken_at)


@dataclass(frozen=True)
class Matcher:
    label: str
    operator: str  # =, !=, =~, !~
    value: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.label, "")  # as in PromQL, a missing label is the empty string
        if self.operator == "=":
            return actual == self.value
        if self.operator == "!=":
            return actual != self.value
        found = re.fullmatch(self.value, actual) is not None  # PromQL regexes are anchored
        return found if self.operator == "=~" else not found


_MATCHER = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')


def parse_matchers(text: str) -> list[Matcher]:
    """`service="api", status=~"5.."` -> matchers; the braces may be left out."""
    text = text.strip().removeprefix("{").removesuffix("}").strip()
    matchers: list[Matcher] = []
    position = 0
    while position < len(text):
        found = _MATCHER.match(text, position)
        if found is None:
            raise ExpositionError(f'not a PromQL label matcher at {text[position : position + 40]!r} (e.g. app="api")')
        value = re.sub(r"\\(.)", r"\1", found[3])
        if found[2] in ("=~", "!~"):
            try:
                re.compile(value)
            except re.error as error:
                raise ExpositionError(f"{found[1]}{found[2]}: not a regular expression: {error}") from None
        matchers.append(Matcher(found[1], found[2], value))
        position = found.end()
    return matchers


def finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)
