"""A team's own SQL (the `sql` migrations tool's `query`): exactly one read-only statement, or why not.

Checked when the configuration loads (so `validate` refuses it, and a run stops before any request) and sent as a
subquery, `SELECT * FROM (<query>) AS q`, so the server's own grammar refuses anything that is not a query (a second
statement, COPY, SELECT INTO, a WITH holding an INSERT, UPDATE, DELETE or MERGE), whatever this lexer missed.

What this cannot see: what a function does inside. A read-only transaction refuses every write to a table, but not
a function's side effects outside the tables; that is what the role check of `role.py` is for.
The well-known ones are refused here by name, as a guard against mistakes (a deny list is never complete).
"""

from __future__ import annotations

import re

# Words that make a statement other than a plain query, or lock rows; matched outside literals and comments.
_WRITING_WORDS = ("insert", "update", "delete", "merge", "into")
# Functions that act outside the transaction: they end or signal sessions, reload or rotate the server, touch
# files, replication slots or other servers, change the session's own settings, or hold locks past the statement.
_ACTING_FUNCTIONS = re.compile(
    r"^(pg_terminate_backend|pg_cancel_backend|pg_signal_backend|pg_reload_conf|pg_rotate_logfile|pg_promote"
    r"|pg_switch_wal|pg_create_restore_point|pg_checkpoint|pg_log_backend_memory_contexts"
    r"|pg_(create|drop|copy)_\w*replication_slot|pg_replication_origin_\w+|pg_file_\w+|pg_read_\w*file"
    r"|lo_import|lo_export|lo_unlink|dblink\w*|set_config|pg_advisory_\w*lock\w*|pg_notify)$"
)
_STARTS = ("select", "with", "values", "table")

_TOKENS = re.compile(
    r"""
      (?P<space>\s+)
    | (?P<line_comment>--[^\n]*)
    | (?P<block_comment>/\*)
    | (?P<escape_string>[eE]'(?:[^'\\]|\\.|'')*')
    | (?P<string>'(?:[^']|'')*')
    | (?P<identifier>"(?:[^"]|"")*")
    | (?P<dollar>\$(?:[A-Za-z_][A-Za-z_0-9]*)?\$)
    | (?P<word>[A-Za-z_][A-Za-z_0-9$]*)
    | (?P<other>.)
    """,
    re.X | re.S,
)


def problem_with(query: str) -> str | None:
    """Why `query` is not exactly one read-only statement (SELECT, WITH ... SELECT, VALUES, TABLE), or None."""
    try:
        tokens = _tokens(query)
    except ValueError as error:
        return str(error)
    if tokens.count(";") > (1 if tokens and tokens[-1] == ";" else 0):
        return "it holds more than one statement: give exactly one (a SELECT)"
    words = [token.lower() for token in tokens if _is_word(token)]
    first = next((token.lower() for token in tokens if token != "("), "")
    if first not in _STARTS:
        shown = first.upper() or "nothing"
        return f"it starts with {shown}: only one query (SELECT, WITH ... SELECT or VALUES) is run"
    for word in _WRITING_WORDS:
        if word in words:
            return f"it holds {word.upper()}: only a query that reads is run (no INSERT, UPDATE, DELETE, COPY, ...)"
    if re.search(r"\bfor (key )?share\b", " ".join(words)):
        return "it locks rows (FOR SHARE): only a query that reads without locking is run"
    called = [_name(tokens[i]) for i in range(len(tokens) - 1) if tokens[i + 1] == "(" and _is_name(tokens[i])]
    acting = sorted({name for name in called if _ACTING_FUNCTIONS.match(name.rsplit(".", 1)[-1])})
    if acting:
        return f"it calls {', '.join(acting)}, which acts outside the read-only transaction: read, do not act"
    return None


def as_subquery(query: str) -> str:
    """The query as the server receives it: inside `SELECT * FROM (...)`, where only a query parses."""
    scanned = _scan(query)
    end = scanned[-1][1] if scanned and scanned[-1][0] == ";" else len(query)  # a final `;`, never one in a comment
    body = query[:end].strip()
    # Newlines, so that a trailing `-- comment` cannot swallow the closing parenthesis.
    return f"SELECT * FROM (\n{body}\n) AS custom_query"


def _tokens(query: str) -> list[str]:
    """The query's tokens without spaces and comments; literals and quoted names kept whole (never read as words)."""
    return _join_qualified([token for token, _ in _scan(query)])


def _scan(query: str) -> list[tuple[str, int]]:
    """(token, where it starts); a literal is the token `'`; raises ValueError for one never closed."""
    tokens: list[tuple[str, int]] = []
    position = 0
    while position < len(query):
        match = _TOKENS.match(query, position)
        assert match is not None  # `other` matches any character
        kind, text, start = match.lastgroup, match.group(), position
        position = match.end()
        if kind == "block_comment":
            position = _end_of_comment(query, position)
        elif kind == "dollar":
            end = query.find(text, position)
            if end < 0:
                raise ValueError(f"a dollar-quoted string ({text}) is never closed")
            position = end + len(text)
            tokens.append(("'", start))
        elif kind in ("string", "escape_string"):
            tokens.append(("'", start))  # a literal: never read as a word
        elif kind == "other" and text in "'\"":
            raise ValueError("a quoted string or name is never closed")
        elif kind not in ("space", "line_comment"):
            tokens.append((text, start))
    return tokens


def _is_word(token: str) -> bool:
    return token[0].isalpha() or token[0] == "_"


def _is_name(token: str) -> bool:
    """A word, a quoted name, or a qualified one (pg_catalog."pg_terminate_backend")."""
    return _is_word(token) or token[0] == '"'


def _name(token: str) -> str:
    """A name as the server resolves it: quoted parts kept as written, bare ones lower-cased."""
    parts = re.findall(r'"(?:[^"]|"")*"|[^.]+', token)
    return ".".join(part[1:-1].replace('""', '"') if part[0] == '"' else part.lower() for part in parts)


def _end_of_comment(query: str, position: int) -> int:
    depth = 1  # PostgreSQL's block comments nest
    while depth:
        match = re.compile(r"/\*|\*/").search(query, position)
        if match is None:
            raise ValueError("a /* comment */ is never closed")
        depth += 1 if match.group() == "/*" else -1
        position = match.end()
    return position


def _join_qualified(tokens: list[str]) -> list[str]:
    """`pg_catalog . pg_terminate_backend` -> one name, so a schema prefix does not hide a function."""
    joined: list[str] = []
    for token in tokens:
        if len(joined) >= 2 and joined[-1] == "." and _is_name(joined[-2]) and _is_name(token):
            joined[-2:] = [f"{joined[-2]}.{token}"]
        else:
            joined.append(token)
    return joined
