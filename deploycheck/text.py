"""Text for evidence and messages: long values cut with their full size noted, and reasons on one line.

What a service answers can be huge or hostile (a 100 KB version string, an HTML error page), and it ends up in
messages, reasons and `verdict.json`. These helpers keep it short, and take time linear in their input: every
pattern here uses possessive quantifiers over runs that cannot overlap. A text is redacted before it is cut, so that
no secret is cut in two and its start kept: `cut` applies the redaction the run installed (`redact_before_cutting`)
to every text it shortens, wherever it is called from.

    cut("x" * 1000, 40)          -> 'xxxxxxxxxxxxx… (1,000 characters in all)'
    one_line("<html><head><title>502 Bad Gateway</title>...")   -> '502 Bad Gateway'
    cut_value(list(range(100)), 30)  -> '[0, 1… (390 characters in all)'
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from typing import Any

ELLIPSIS = "…"
REASON_LIMIT = 200

# What str.splitlines() breaks on.
_LINE_BREAK = re.compile("[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]")
_VISIBLE = re.compile(r"\S")
# Terminal colours and other control characters: invisible, or worse, in a reason.
_CONTROL = re.compile(r"\x1b\[[0-?]*+[ -/]*+[@-~]|[\x00-\x08\x0e-\x1b\x7f]")

_HTML_START = re.compile(r"\s*+<")
_HTML_TAG = re.compile(r"(?i)<(?:!doctype\s++html|html|head|body|title)\b")
_TITLE_OPEN = re.compile(r"(?i)<title\b[^<>]*+>")
_TITLE_CLOSE = re.compile(r"(?i)</title\s*+>")
# Markup whose content is not text: comments, scripts, styles, templates, declarations (<!DOCTYPE>, <?xml?>).
# An unclosed one runs to the end of the document, so the scan never restarts inside it.
_INVISIBLE = re.compile(
    r"(?is)<!--(?:[^-]|-(?!->))*+(?:-->)?"
    r"|<(script|style|template)\b[^<>]*+>?(?:[^<]|<(?!/\1))*+(?:</\1\s*+>)?"
    r"|<[!?][^<>]*+>?"
)
_BLOCK_TAG = re.compile(
    r"(?i)</?(?:address|article|aside|blockquote|body|br|center|dd|div|dl|dt|figcaption|figure|footer|form|h[1-6]"
    r"|head|header|hr|html|li|main|nav|ol|p|pre|section|table|title|tr|ul)\b[^<>]*+>?"
)
_CELL_TAG = re.compile(r"(?i)</?t[dh]\b[^<>]*+>?")
_ANY_TAG = re.compile(r"</?[a-zA-Z][^<>]*+>?")

Redact = Callable[[str], str]
# The run's redaction, applied to a text before `cut` shortens it. Set by the process's run (there is one per process:
# pytest's configure installs it and unconfigure removes it), so that the many pure functions that cut answers need
# not carry it; a text that is not cut is redacted where it leaves the suite, as everything is.
_redact_before_cut: list[Redact] = []


def redact_before_cutting(redact: Redact | None) -> None:
    """Install the run's redaction (thread-safe: flows cut texts from many threads), or remove it (None)."""
    _redact_before_cut[:] = [redact] if redact is not None else []


def cut(text: str, limit: int) -> str:
    """`text` if it has at most `limit` characters; else its start, ending with `… (N characters in all)`, all
    within `limit` characters. A text is redacted before it is cut: no start of a secret is left at the cut."""
    if limit < 0:
        raise ValueError(f"limit must be 0 or more, got {limit}")
    if len(text) <= limit:
        return text
    for redact in _redact_before_cut:
        text = redact(text)
    if len(text) <= limit:
        return text
    note = f"{ELLIPSIS} ({len(text):,} characters in all)"
    keep = limit - len(note)
    if keep < 1:  # no room for the note: keep what fits and mark the cut
        return text[: limit - 1] + ELLIPSIS if limit else ""
    return text[:keep].rstrip() + note


def one_line(text: str, limit: int = REASON_LIMIT) -> str:
    """A reason on one line: an HTML document becomes its <title> or, failing that, its first line of text; any
    other text its first non-empty line. Whitespace is collapsed, control characters dropped, then `cut`."""
    text = _CONTROL.sub("", text)
    if _looks_like_html(text):
        line = _html_title(text) or _first_line(_html_text(text), unescape=True)
    else:
        line = _first_line(text)
    return cut(line, limit)


def cut_value(value: Any, limit: int) -> Any:
    """An observed value fit for a message or `verdict.json`: a string is `cut`; a list or dict whose JSON is longer
    than `limit` becomes that JSON, cut; any other value is returned as it is."""
    if isinstance(value, str):
        return cut(value, limit)
    if isinstance(value, list | tuple | dict):
        try:
            text = json.dumps(value, ensure_ascii=False, default=str)
        except ValueError:  # a structure that contains itself
            text = repr(value)
        return cut(text, limit) if len(text) > limit else value
    return value


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _first_line(text: str, *, unescape: bool = False) -> str:
    """The first line with something visible in it, whitespace collapsed ('' if there is none)."""
    position = 0
    while visible := _VISIBLE.search(text, position):
        end = _LINE_BREAK.search(text, visible.start())
        position = end.end() if end else len(text)
        line = text[visible.start() : end.start() if end else len(text)]
        line = _collapse(html.unescape(line) if unescape else line)
        if line:  # only an entity such as &nbsp; can leave a line with visible characters empty
            return line
    return ""


def _looks_like_html(text: str) -> bool:
    return _HTML_START.match(text) is not None and _HTML_TAG.search(text) is not None


def _html_title(document: str) -> str:
    opening = _TITLE_OPEN.search(document)
    if opening is None:
        return ""
    closing = _TITLE_CLOSE.search(document, opening.end())
    # An unclosed title ends at the next tag.
    end = closing.start() if closing else _find(document, "<", opening.end())
    return _collapse(html.unescape(_ANY_TAG.sub("", document[opening.end() : end])))


def _html_text(document: str) -> str:
    """The text of an HTML document, with a line break for every block element."""
    text = _INVISIBLE.sub("", document)
    text = _BLOCK_TAG.sub("\n", text)
    text = _CELL_TAG.sub(" ", text)
    return _ANY_TAG.sub("", text)


def _find(text: str, sub: str, start: int) -> int:
    """Index of `sub` in `text` from `start`, or the end of `text`."""
    index = text.find(sub, start)
    return len(text) if index == -1 else index
