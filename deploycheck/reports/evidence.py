"""The evidence behind a finding, as attachments a reviewer reads: one renderer per evidence kind.

A finding's `source` says what was asked (`kind`: http, prometheus, scrape, kubernetes, postgres, flow, ...). A kind
without a renderer of its own gets its source as JSON, so a new probe kind shows up without any change here; one
that wants a readable page registers a renderer with `@renderer("kind")`. Findings are redacted where they are made;
the plugin redacts every attachment again before writing it (redaction is idempotent).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

BODY_EXCERPT_CHARS = 2000


@dataclass(frozen=True)
class Attachment:
    name: str
    body: str
    kind: str = "text"  # "text" or "json"


Renderer = Callable[[Mapping[str, Any], Mapping[str, Any]], list[Attachment]]  # (finding, source) -> attachments
RENDERERS: dict[str, Renderer] = {}


def renderer(kind: str) -> Callable[[Renderer], Renderer]:
    """Register the renderer of one evidence kind."""

    def register(function: Renderer) -> Renderer:
        RENDERERS[kind] = function
        return function

    return register


def attachments(finding: Mapping[str, Any]) -> list[Attachment]:
    """What was judged (observed vs limit), then the evidence behind it, then the finding as recorded."""
    source = finding.get("source") or {}
    render = RENDERERS.get(str(source.get("kind", "")), _as_json)
    return [
        Attachment("judgement", judgement(finding)),
        *render(finding, source),
        Attachment("finding (JSON)", _json(finding), "json"),
    ]


def judgement(finding: Mapping[str, Any]) -> str:
    """The finding in "observed / limit" form, the way a reviewer checks it."""
    lines = [
        f"check:     {finding.get('check')} ({finding.get('severity')})",
        f"service:   {finding.get('service') or 'environment'}",
        f"outcome:   {finding.get('outcome')}",
        f"message:   {finding.get('message')}",
        f"observed:  {value_text(finding.get('observed'), finding.get('unit'))}",
        f"limit:     {value_text(finding.get('limit'), finding.get('unit'))}",
    ]
    for key in ("baseline", "window", "samples", "duration_ms"):
        if finding.get(key) is not None:
            lines.append(f"{key + ':':<10} {value_text(finding[key])}")
    if finding.get("statistics"):
        lines.append(f"statistics: {json.dumps(finding['statistics'], default=str)}")
    return "\n".join(lines) + "\n"


def source_line(source: Mapping[str, Any]) -> str:
    """The evidence in one line, for tables: the request line, the queries, the URL scraped, or the kind."""
    kind = str(source.get("kind", ""))
    if kind == "http" or "method" in source:
        return f"{source.get('method', '')} {source.get('url', '')}".strip()
    if kind == "prometheus" and isinstance(source.get("queries"), Mapping):
        return "PromQL: " + "; ".join(str(query.get("query", query)) for query in _queries(source).values())
    if "query" in source:
        return f"{kind}: {source['query']}"
    if "url" in source:
        return f"{kind} {source['url']}".strip()
    return kind or "(no source recorded)"


def value_text(value: Any, unit: str | None = None) -> str:
    if value is None:
        return "(none)"
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return f"{text} {unit}" if unit else text


@renderer("http")
def _http(finding: Mapping[str, Any], source: Mapping[str, Any]) -> list[Attachment]:
    """The HTTP exchange: request line, header names (values are never recorded), and what came back."""
    lines = [f"{source.get('method', 'GET')} {source.get('url', '')}"]
    lines += [f"{name}: ***" for name in source.get("headers", ())]
    lines += ["", f"timeout: {source.get('timeout_s')} s, attempts: {source.get('attempts', 1)}"]
    if source.get("tls"):
        lines.append(f"tls: {json.dumps(source['tls'])}")
    response = source.get("response")  # recorded by probes that keep the answer: status, headers, body
    if isinstance(response, Mapping):
        lines += ["", f"HTTP {response.get('status', '?')}"]
        lines += [f"{name}: {value}" for name, value in dict(response.get("headers", {})).items()]
        if response.get("body") is not None:
            lines += ["", str(response["body"])[:BODY_EXCERPT_CHARS]]
    elif isinstance(finding.get("observed"), Mapping) and "status" in finding["observed"]:
        observed = finding["observed"]  # what the health and readiness checks keep: the status and the body
        lines += ["", f"HTTP {observed['status']}"]
        if observed.get("body") is not None:
            lines += ["", value_text(observed["body"])[:BODY_EXCERPT_CHARS]]
    else:
        lines += ["", f"observed: {value_text(finding.get('observed'))}"]
    return [Attachment("HTTP exchange", "\n".join(lines) + "\n")]


@renderer("prometheus")
def _prometheus(finding: Mapping[str, Any], source: Mapping[str, Any]) -> list[Attachment]:
    """Each PromQL query (with the server and time asked) and the result the check judged."""
    lines: list[str] = []
    for name, query in _queries(source).items():
        lines += [f"# {name}", str(query.get("query", "")), ""]
        asked = {key: value for key, value in query.items() if key not in ("query", "kind")}
        if asked:
            lines += [f"  {key}: {value_text(value)}" for key, value in asked.items()] + [""]
    if "query" in source:
        lines += [str(source["query"]), ""]
    lines.append(f"result: {value_text(finding.get('observed'), finding.get('unit'))}")
    if source.get("missing"):
        lines.append(f"missing: {json.dumps(source['missing'])}")
    return [Attachment("PromQL queries and result", "\n".join(lines) + "\n")]


@renderer("scrape")
def _scrape(finding: Mapping[str, Any], source: Mapping[str, Any]) -> list[Attachment]:
    """The service's own /metrics, scraped twice: where, which series, and the traffic the suite added."""
    lines = [f"GET {source.get('url', '')} (scraped twice)"]
    for name, selector in dict(source.get("metric", {})).items():
        lines.append(f"  {name}: {selector}")
    if source.get("synthetic"):
        lines.append(f"synthetic traffic: {json.dumps(source['synthetic'], default=str)}")
    lines.append(f"result: {value_text(finding.get('observed'), finding.get('unit'))}")
    return [Attachment("scraped metrics", "\n".join(lines) + "\n")]


def _queries(source: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    queries = source.get("queries") or {}
    return {str(name): query if isinstance(query, Mapping) else {"query": query} for name, query in queries.items()}


def _as_json(finding: Mapping[str, Any], source: Mapping[str, Any]) -> list[Attachment]:
    if not source:
        return []
    return [Attachment(f"{source.get('kind', 'evidence')} evidence", _json(source), "json")]


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, default=str) + "\n"
