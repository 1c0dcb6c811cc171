"""What the suite's database role could do, read before any other query of its session.

A read-only transaction refuses every write to a table, but not what acts outside the tables: `COPY ... TO PROGRAM`
and server files (superuser, pg_execute_server_program, pg_write_server_files, pg_read_server_files), ending other
sessions (pg_signal_backend), replication slots, which hold WAL on the primary until its disk fills (REPLICATION;
creating one is allowed in a read-only transaction), and a credential that mints roles or databases (CREATEROLE,
CREATEDB). A role that could do any of this, by itself or through a role it is a member of (directly or not, with
or without INHERIT: SET ROLE reaches it), is **refused**: its session asks nothing more.

Weaker, and only **warned** about: a role that owns tables (or the schema) the suite reads could alter or drop them
with the same credential anywhere else; a member of pg_write_all_data could write every table; BYPASSRLS reads
rows that row-level security hides. The read-only session stops all of these itself, so they do not decide.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

# Role attributes and predefined roles that refuse the session, with what each lets a session do.
REFUSED_ATTRIBUTES = {
    "rolsuper": "is a superuser (runs programs and writes files on the server)",
    "rolcreaterole": "can create roles (CREATEROLE)",
    "rolcreatedb": "can create databases (CREATEDB)",
    "rolreplication": "can replicate (REPLICATION: creates replication slots that hold WAL)",
}
REFUSED_ROLES = {
    "pg_execute_server_program": "runs programs on the database host",
    "pg_write_server_files": "writes files on the database host",
    "pg_read_server_files": "reads any file on the database host",
    "pg_signal_backend": "can end other sessions",
}
WARNED_ATTRIBUTES = {"rolbypassrls": "bypasses row-level security (BYPASSRLS)"}
WARNED_ROLES = {"pg_write_all_data": "can write every table (pg_write_all_data)"}
TABLES_SHOWN = 20

_ATTRIBUTES = (*REFUSED_ATTRIBUTES, *WARNED_ATTRIBUTES)
_WATCHED = (*REFUSED_ROLES, *WARNED_ROLES)

# Every role the session can act as (itself included) that holds a watched attribute or is a watched role.
ROLE_SQL = f"""
SELECT r.rolname = current_user AS itself, r.rolname, {", ".join(f"r.{a}" for a in _ATTRIBUTES)}
  FROM pg_catalog.pg_roles r
 WHERE pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER')
   AND (r.rolname = current_user OR {" OR ".join(f"r.{a}" for a in _ATTRIBUTES)}
        OR r.rolname IN ({", ".join(f"'{name}'" for name in _WATCHED)}))
 ORDER BY r.rolname
""".strip()

# The tables and views of the schema the suite reads that the role owns (or could act as the owner of),
# and whether it owns the schema (then it may drop anything in it). %(schema)s NULL: the session's current schema.
OWNED_SQL = f"""
SELECT n.nspname AS schema,
       pg_catalog.pg_has_role(current_user, n.nspowner, 'MEMBER') AS owns_schema,
       array(SELECT c.relname::text FROM pg_catalog.pg_class c
              WHERE c.relnamespace = n.oid AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
                AND pg_catalog.pg_has_role(current_user, c.relowner, 'MEMBER')
              ORDER BY c.relname LIMIT {TABLES_SHOWN}) AS tables,
       (SELECT count(*) FROM pg_catalog.pg_class c
         WHERE c.relnamespace = n.oid AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
           AND pg_catalog.pg_has_role(current_user, c.relowner, 'MEMBER')) AS owned
  FROM pg_catalog.pg_namespace n
 WHERE n.nspname = coalesce(%(schema)s, current_schema())
""".strip()


@dataclass(frozen=True)
class RoleAnswer:
    """What the session's role could do: each power, and the roles it comes from ("itself" for its own)."""

    powers: dict[str, list[str]]  # refused or warned power (a key of the tables above) -> through which roles
    schema: str | None = None  # the schema the suite reads (None when ownership was not asked)
    owns_schema: bool = False
    owned_tables: tuple[str, ...] = ()  # at most TABLES_SHOWN
    owned_count: int = 0

    @property
    def refused(self) -> list[str]:
        """Why the session is refused: one phrase per power, naming the role it comes from when inherited."""
        if "rolsuper" in self.powers:  # a superuser is a member of every role: its own word says it all
            return [_phrase("rolsuper", self.powers["rolsuper"])]
        return [_phrase(power, self.powers[power]) for power in (*REFUSED_ATTRIBUTES, *REFUSED_ROLES)
                if power in self.powers]  # fmt: skip

    @property
    def warnings(self) -> list[str]:
        found = [_phrase(power, self.powers[power]) for power in (*WARNED_ATTRIBUTES, *WARNED_ROLES)
                 if power in self.powers]  # fmt: skip
        if self.owns_schema:
            found.append(f"owns schema {self.schema} (may drop any table in it)")
        if self.owned_count:
            more = f" and {self.owned_count - len(self.owned_tables)} more" if self.owned_count > TABLES_SHOWN else ""
            found.append(f"owns {self.owned_count} table(s) or view(s) of schema {self.schema}: "
                         f"{', '.join(self.owned_tables)}{more}")  # fmt: skip
        return found

    def to_evidence(self) -> dict[str, Any]:
        return {
            "powers": self.powers,
            "schema": self.schema,
            "owns_schema": self.owns_schema,
            "owned_tables": list(self.owned_tables),
            "owned_count": self.owned_count,
        }


async def read_powers(connection: psycopg.AsyncConnection[Any]) -> RoleAnswer:
    """The refused and warned powers of the session's role (the suite's own fixed query, nothing of the team's)."""
    cursor = await connection.execute(ROLE_SQL, binary=True)
    powers: dict[str, list[str]] = {}
    for row in await cursor.fetchall():
        itself, name, *flags = row
        through = "itself" if itself else str(name)
        for attribute, held in zip(_ATTRIBUTES, flags, strict=True):
            if held:
                powers.setdefault(attribute, []).append(through)
        if name in _WATCHED:
            powers.setdefault(str(name), []).append(str(name))
    if "itself" in powers.get("rolsuper", ()):  # a superuser is a member of every role: the rest says nothing more
        return RoleAnswer({"rolsuper": ["itself"]})
    return RoleAnswer({power: ["itself"] if "itself" in through else through for power, through in powers.items()})


async def read_ownership(connection: psycopg.AsyncConnection[Any], role: RoleAnswer, schema: str | None) -> RoleAnswer:
    """The role's answer with what it owns of the schema the suite reads."""
    cursor = await connection.execute(OWNED_SQL, {"schema": schema}, binary=True)
    row = await cursor.fetchone()
    if row is None:  # no such schema: nothing to own there (the migrations check says what is missing)
        return RoleAnswer(role.powers, schema)
    name, owns_schema, tables, owned = row
    return RoleAnswer(role.powers, str(name), bool(owns_schema), tuple(str(t) for t in tables or ()), int(owned))


def _phrase(power: str, through: list[str]) -> str:
    what = {**REFUSED_ATTRIBUTES, **REFUSED_ROLES, **WARNED_ATTRIBUTES, **WARNED_ROLES}[power]
    if power in REFUSED_ROLES:
        what = f"is a member of {power} ({what})"
    inherited = [] if "itself" in through else [name for name in through if name != power]
    return f"{what}, through role {', '.join(inherited)}" if inherited else what
