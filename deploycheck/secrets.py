"""Secrets: values that must be used but never shown.

A `Secret` prints as `***`; only `reveal()` gives the value. The `Redactor` scrubs from free text, such as error
messages, every known secret value in every form in which the suite itself encodes it (`forms`: as it is,
percent-encoded, JSON- or repr-escaped at any depth, inside any base64 text; `add_basic`: the base64 of a Basic-auth
`user:password`), and whatever looks like a credential: the password of a URL or DSN, `password=` / `token=` /
`api_key=` pairs, `Authorization:` header lines, and `"authorization": "..."` or `"token": "..."` items of a dict
repr or JSON text. Nothing that leaves the suite carries them. A text is redacted before it is cut to size
(`deploycheck.text.cut`), so that no start of a secret survives a cut; where others cut first (pytest shortens a long
repr in its middle with "..."), `after_foreign_cut` also masks the piece of a secret left on either side of the mark.

Redaction runs on every message and observed value, some of them large and hostile, so it must take time linear in
the text: known values are found by one alternation, and every pattern below uses possessive quantifiers over
runs that cannot overlap (a URL password never runs across another "://") or over a fixed bound, so no input
makes them backtrack far.
Redaction is idempotent: masked text redacts to itself.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from typing import Any
from urllib.parse import quote, quote_plus, unquote

MASK = "***"
# Very short values would mask unrelated text ("1", "on") without protecting anything.
MIN_SECRET_LENGTH = 4
# A run of base64 shorter than this could be part of any word; the Basic-auth value is masked whole (add_basic).
MIN_BASE64_RUN = 6

# Characters that end a URL password: whitespace, quotes, angle brackets and backslashes delimit a URL in prose,
# reprs and JSON. Every other mask either holds none of them or lies behind one (inside quotes, after a space), so
# masking never lets a URL password reach further than before; that keeps redaction idempotent.
_URL_STOP = r"\s\"'<>\\"

# user:password@ in a URL or DSN: postgresql://app:s3cret@db/app, http://:token@host, http://a%40b:pw@host. The scheme
# is not needed to find it. An unescaped '@' inside the password is taken up to the last '@' before the host, as
# urllib does (`p@ss@host`). The password may hold ':' and '/' but never "://", so the tries from successive "://"
# cover disjoint runs of the text: linear time, even on "http://a:" * 100000.
_URL_PASSWORD = re.compile(
    rf"://[^:/?#@{_URL_STOP}]*+:(?!//)"
    rf"(?P<password>(?:[^@:{_URL_STOP}]|:(?!//))++(?:@[^@/?#{_URL_STOP}]*+(?=@))*+)@"
)


def _words(*words: str, not_after: str) -> str:
    """Regex for any of `words` (regexes that open with a letter) in any case, not right after a character of the
    set `not_after`. It opens with the set of first letters, so the regex engine skips straight to candidates;
    opening with the lookbehind, or under a global (?i), makes it try every position: 3 to 5 times slower."""
    letters = "".join(sorted({word[0].lower() + word[0].upper() for word in words}))
    rest = "|".join(f"(?<={word[0]}){word[1:]}" for word in words)
    return rf"[{letters}](?<![{not_after}].)(?i:{rest})"


# Keys whose value is a secret; a key may end in one after '_' or '-' (access_token, client_secret, x-api-key).
_SECRET_KEYS = r"password|passwd|secret|token|api[_-]?key"
# A quoted value needs its closing quote on the same line: an opening quote inside a run would close it, so the tries
# never overlap (linear).
_QUOTED = r"'(?P<single>(?:[^'\\\n]|\\.)*+)'|\"(?P<double>(?:[^\"\\\n]|\\.)*+)\""

# key=value pairs in query strings and libpq DSNs: ?access_token=abc&x=1, password='a b' dbname=app. The key must not
# follow a letter or digit ("notoken=" is not one). An unquoted value ends where a query parameter or a quoted
# string does, and never runs across "://".
_KEY_VALUE = re.compile(
    _words(*_SECRET_KEYS.split("|"), not_after=r"^\W_")
    + r"[ \t]*+=[ \t]*+"
    + rf"(?:{_QUOTED}|(?P<value>(?:[^&;:{_URL_STOP}]|:(?!//))++))"
)

# Authorization header lines: the credentials after Bearer/Basic/Token, or the rest of the line for any other scheme.
# The rest stops at a quote or backslash, so a header quoted inside a repr keeps its closing quote.
_AUTHORIZATION = re.compile(
    _words("authorization", not_after=r"\w")  # also Proxy-Authorization, X-Authorization
    + r"[ \t]*+:[ \t]*+(?:(?i:bearer|basic|token)[ \t]++(?P<credentials>[^\s\"'<>,;\\]++)|(?P<rest>[^\r\n\v\f\"'\\]++))"
)

# "key": "value" in JSON or a dict repr, and ('key', 'value') in a list of header tuples, for the secret keys and
# the headers that carry credentials. The key is bounded ({0,40}), so each quote costs a bounded number of steps.
_QUOTED_KEY = rf"(?:[\w-]{{0,40}}[_-])?(?:{_SECRET_KEYS}|authorization|cookie)"
_QUOTED_ITEM = re.compile(
    rf"(?i)(?:(?P<q>[\"']){_QUOTED_KEY}(?P=q)[ \t]*+:|\([ \t]*+(?P<t>[\"']){_QUOTED_KEY}(?P=t)[ \t]*+,)[ \t]*+"
    rf"(?:{_QUOTED})"
)


def _mask_groups(pattern: re.Pattern[str], text: str, *groups: str) -> str:
    """Replace the first of `groups` that took part in each match of `pattern` with the mask, keeping the rest."""
    parts: list[str] = []
    done = 0
    for match in pattern.finditer(text):
        group = next((name for name in groups if match.start(name) != -1), None)
        if group is None or match.start(group) == match.end(group):
            continue  # an empty value hides nothing; masking it would only mislead
        parts += (text[done : match.start(group)], MASK)
        done = match.end(group)
    if not parts:
        return text
    parts.append(text[done:])
    return "".join(parts)


def _encoded_pattern(encoded: str) -> str:
    """Regex for a percent-encoded value: its %XX escapes match in either case (%2f as well as %2F)."""
    pieces = re.split(r"(%[0-9A-F]{2})", encoded)
    return "".join(f"%(?i:{piece[1:]})" if index % 2 else re.escape(piece) for index, piece in enumerate(pieces))


def _escaped_pattern(value: str) -> str:
    """Regex for a value holding quotes or backslashes, as it is or escaped for JSON or a repr, at any depth: a run
    of backslashes matches any longer run, and a quote any number of backslashes before it."""
    pieces = re.split(r"(\\++[\"']?|[\"'])", value)
    pattern = []
    for index, piece in enumerate(pieces):
        if not index % 2:
            pattern.append(re.escape(piece))
        elif piece[0] == "\\":
            pattern.append(r"\\++" + re.escape(piece.lstrip("\\")))
        else:
            pattern.append(r"\\*+" + re.escape(piece))
    return "".join(pattern)


def base64_runs(value: str) -> list[str]:
    """What base64 shows of `value` wherever it sits in the encoded bytes: for each of the three alignments, the
    characters made of its bytes only (base64 of "user:" + value holds one of them, whatever the user)."""
    data = value.encode()
    runs = []
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + data).decode("ascii")
        run = encoded[-(-8 * offset // 6) : 8 * (offset + len(data)) // 6]  # whole 6-bit groups of `data`
        if len(run) >= MIN_BASE64_RUN:
            runs.append(run)
    return runs


def forms(value: str) -> dict[str, str]:
    """Every form in which the suite itself encodes `value`, each with the regex that finds it: the value, also
    escaped for JSON or a repr; percent-encoded as `quote` and `quote_plus` do (in either case of hex digit); as
    JSON with \\u escapes; and inside base64 text. The one place that knows them: a registered value is masked in
    all of them."""
    found = {value: _escaped_pattern(value) if re.search(r"[\"'\\]", value) else re.escape(value)}
    for encoded in (quote(value, safe=""), quote(value), quote_plus(value, safe=""), quote_plus(value)):
        found.setdefault(encoded, _encoded_pattern(encoded))
    for escaped in (json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]):
        found.setdefault(escaped, re.escape(escaped))
    for run in base64_runs(value):
        found.setdefault(run, re.escape(run))
    return found


def basic_credentials(user: str, password: str) -> str:
    """The credentials of an `Authorization: Basic` header, as the suite and its HTTP clients build them."""
    return base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def _known_values_pattern(values: set[str], exact: set[str]) -> re.Pattern[str] | None:
    """One alternation of every form of every value (and of the exact texts), longest first, so a value that
    contains another is masked whole. One pass over the text: the work at each position is bounded by the values,
    not by the text."""
    if not values and not exact:
        return None
    patterns = {text: re.escape(text) for text in exact}
    for value in values:
        for form, pattern in forms(value).items():
            patterns.setdefault(form, pattern)
    ordered = sorted(patterns, key=len, reverse=True)
    return re.compile("|".join(patterns[form] for form in ordered))


# Where a text was cut by code that could not redact it first (pytest shortens a long repr in its middle, with "..."):
# the piece of a secret left on either side of the mark is masked, from this many characters on.
_CUT_MARK = re.compile(r"\.\.\.|…")
MIN_FRAGMENT = MIN_SECRET_LENGTH
ESCAPE_LEVELS = 4  # a secret in a JSON body echoed in a JSON string, shown in a repr: three; one more to spare


class _Fragments:
    """The starts and ends (MIN_FRAGMENT characters or more) of every literal form of the known values, found next
    to a cut mark in time linear in the text: a mark is looked at only when a character that can end a start sits
    before it, or one that can begin an end after it; then only the sizes a piece ending (or beginning) with the
    MIN_FRAGMENT characters at the mark can have are tried."""

    def __init__(self, literals: set[str]) -> None:
        self.starts: dict[str, list[int]] = {}  # the last MIN_FRAGMENT characters of a start -> its sizes
        self.ends: dict[str, list[int]] = {}  # the first MIN_FRAGMENT characters of an end -> its sizes
        self.pieces: set[str] = set()
        for form in literals:
            for size in range(MIN_FRAGMENT, len(form)):
                self.starts.setdefault(form[size - MIN_FRAGMENT : size], []).append(size)
                self.ends.setdefault(form[-size:][:MIN_FRAGMENT], []).append(size)
                self.pieces.update((form[:size], form[-size:]))
        for sizes in (*self.starts.values(), *self.ends.values()):
            sizes.sort(reverse=True)
        last = {gram[-1] for gram in self.starts}
        first = {gram[0] for gram in self.ends}
        self.marks = (
            re.compile(
                rf"(?<=[{re.escape(''.join(sorted(last)))}])(?:\.\.\.|…)"
                rf"|(?:\.\.\.|…)(?=[{re.escape(''.join(sorted(first)))}])"
            )
            if self.pieces
            else None
        )

    def mask(self, text: str) -> str:
        """The text with the start of a form masked just before each cut mark, and the end of one just after."""
        if self.marks is None or ("..." not in text and "…" not in text):
            return text
        parts: list[str] = []
        done = 0
        for mark in self.marks.finditer(text):
            start, end = mark.start(), mark.end()
            if start < done:
                continue
            before = self._size(text[max(done, start - MIN_FRAGMENT) : start], self.starts, text, start, done, True)
            after = self._size(text[end : end + MIN_FRAGMENT], self.ends, text, end, len(text), False)
            if before or after:
                parts += (text[done : start - before], MASK if before else "", mark[0], MASK if after else "")
                done = end + after
        if not parts:
            return text
        parts.append(text[done:])
        return "".join(parts)

    def _size(self, edge: str, sizes: dict[str, list[int]], text: str, at: int, bound: int, before: bool) -> int:
        """The size of the longest piece that ends (before=True) or begins at `at`, within `bound`; 0 if none."""
        for size in sizes.get(edge, ()):
            if size <= abs(at - bound) and (text[at - size : at] if before else text[at : at + size]) in self.pieces:
                return size
        return 0


def _literal_forms(values: set[str], exact: set[str]) -> set[str]:
    """Every form as text, with the escaping levels a cut piece may show spelled out (the regex of `forms` matches
    any depth; a piece must be compared as it is): JSON in JSON up to four deep, and the repr of each."""
    literals = set(exact)
    for value in values:
        literals.update(forms(value))
        escaped = value
        for _ in range(ESCAPE_LEVELS):
            literals.update({escaped, repr(escaped)[1:-1]})
            escaped = json.dumps(escaped)[1:-1]
    return literals


def _redact_structure(text: str) -> str:
    """Mask the credentials that can be told by their shape alone (no known values needed). Each pattern needs a
    character (or "://") that most figures and words lack: testing for it first skips the regex scan."""
    if "://" in text and "@" in text:
        text = _mask_groups(_URL_PASSWORD, text, "password")
    if "=" in text:
        text = _mask_groups(_KEY_VALUE, text, "single", "double", "value")
    if ":" in text:
        text = _mask_groups(_AUTHORIZATION, text, "credentials", "rest")
    if '"' in text or "'" in text:
        text = _mask_groups(_QUOTED_ITEM, text, "single", "double")
    return text


class Secret:
    """A string that is never printed; compare and pass it around freely."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK})"

    def __str__(self) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


MEMO_SIZE = 4096  # redacted texts kept for reuse; the memo starts over when full
MEMO_TEXT_CHARS = 8192  # longer texts (a response body) are redacted each time, never kept


class Redactor:
    """Replaces every registered secret value (in each of its `forms`), URL passwords and other credentials with
    `***`. Safe to share between threads (flows run at once, each learning tokens)."""

    def __init__(self, secrets: list[str] | None = None) -> None:
        self._values: set[str] = set()
        self._exact: set[str] = set()  # texts masked as they are, in no other form
        self._pattern: re.Pattern[str] | None = None
        self._fragments = _Fragments(set())
        self._stale = False  # values were added since the pattern was compiled
        # Redacted texts by their text: a check's evidence repeats the same URLs and queries for every service.
        self._memo: dict[str, str] = {}
        self._lock = threading.RLock()
        for value in secrets or []:
            self.add(value)

    def add(self, value: str | Secret) -> None:
        """Mask `value` from now on, in every form the suite encodes it in (see `forms`)."""
        text = value.reveal() if isinstance(value, Secret) else value
        with self._lock:
            for known in {text, unquote(text)}:  # a URL's password is sent decoded (Basic auth)
                if len(known) >= MIN_SECRET_LENGTH and known not in self._values:
                    self._values.add(known)
                    self._stale = True

    def add_basic(self, user: str, password: str | Secret) -> None:
        """Mask a Basic-auth credential: the password (so `user:password` shows as `user:***`), and the exact
        header credentials the suite (or an HTTP client) sends for it, base64 of `user:password`."""
        secret = password.reveal() if isinstance(password, Secret) else password
        if secret:
            self.add(secret)
        elif len(user) < MIN_SECRET_LENGTH:
            return  # no password and a short user: nothing a reader could use
        with self._lock:
            self._exact.add(basic_credentials(user, secret))
            self._stale = True

    def __call__(self, text: str) -> str:
        with self._lock:
            if self._stale:  # compiled once for many values added in a row
                self._pattern = _known_values_pattern(self._values, self._exact)
                self._fragments = _Fragments(_literal_forms(self._values, self._exact))
                self._stale = False
                self._memo = {}  # a value added since may be in a text redacted before
            redacted = self._memo.get(text)
            if redacted is None:
                redacted = self._redact(text)
                if len(text) <= MEMO_TEXT_CHARS:
                    if len(self._memo) >= MEMO_SIZE:
                        self._memo = {}
                    self._memo[text] = redacted
            return redacted

    def _redact(self, text: str) -> str:
        # Known values first: a value may contain what a structural pattern would only partly mask (a space).
        if self._pattern is not None:
            text = self._pattern.sub(MASK, text)
        return _redact_structure(text)

    def after_foreign_cut(self, text: str) -> str:
        """Redact a text that code outside the suite may have cut before it could be redacted (pytest shortens a
        long repr in its middle with "..."): also the piece of a secret left on either side of a cut mark."""
        redacted = self(text)
        with self._lock:
            fragments = self._fragments
        return fragments.mask(redacted)

    def scrub(self, data: object) -> object:
        """Redact every string inside nested dicts and lists (for JSON output), keys included."""
        if isinstance(data, str):
            return self(data)
        if isinstance(data, dict):
            return {self(key) if isinstance(key, str) else key: self.scrub(value) for key, value in data.items()}
        if isinstance(data, list | tuple):
            return [self.scrub(value) for value in data]
        return data

    def scrub_document(self, document: dict[str, Any]) -> dict[str, Any]:
        """`scrub` for a JSON object, keeping its type."""
        return {self(key): self.scrub(value) for key, value in document.items()}
