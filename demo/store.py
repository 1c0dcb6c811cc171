"""What one demo service persists: accounts, bearer tokens, orders, payments and reports, in SQLite.

One database per service: a file `<state dir>/<service>.sqlite3` with `--state-dir` (it outlives the process), else
in memory. Every call is one short statement on the event loop's thread: a demo's load is small, and SQLite
answers in microseconds, so no thread pool is needed.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import time
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (username TEXT PRIMARY KEY, password_hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (token_hash TEXT PRIMARY KEY, username TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    id TEXT PRIMARY KEY, reference TEXT, status TEXT NOT NULL, items TEXT NOT NULL, total REAL NOT NULL,
    payment_id TEXT, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS payments (
    id TEXT PRIMARY KEY, order_id TEXT NOT NULL, amount REAL NOT NULL, status TEXT NOT NULL, reference TEXT,
    idempotency_key TEXT UNIQUE, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS reports (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, reference TEXT, rows INTEGER NOT NULL, ready_at REAL NOT NULL);
"""
TABLES = ("orders", "payments", "reports")
TOKEN_PREFIX = "dtk_"  # as real APIs mark theirs (ghp_, xoxb-): a leaked token is easy to find in any output


def _hash(text: str) -> str:
    # Tokens and passwords are stored hashed: a copied state file gives nobody a session.
    return hashlib.sha256(text.encode()).hexdigest()


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(6)}"


class Store:
    def __init__(self, path: Path | None = None) -> None:
        self.db = sqlite3.connect(":memory:" if path is None else str(path), isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    # accounts and tokens

    def add_account(self, username: str, password: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO accounts VALUES (?, ?)", (username, _hash(password)))

    def check_password(self, username: str, password: str) -> bool:
        row = self.db.execute("SELECT password_hash FROM accounts WHERE username = ?", (username,)).fetchone()
        return row is not None and secrets.compare_digest(row[0], _hash(password))

    def new_token(self, username: str) -> str:
        token = TOKEN_PREFIX + secrets.token_urlsafe(24)
        self.db.execute("INSERT INTO tokens VALUES (?, ?, ?)", (_hash(token), username, time.time()))
        return token

    def user_of(self, token: str) -> str | None:
        row = self.db.execute("SELECT username FROM tokens WHERE token_hash = ?", (_hash(token),)).fetchone()
        return None if row is None else str(row[0])

    def drop_token(self, token: str) -> None:
        self.db.execute("DELETE FROM tokens WHERE token_hash = ?", (_hash(token),))

    def token_count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM tokens").fetchone()[0])

    # orders

    def add_order(self, items: list[dict[str, Any]], total: float, reference: str | None) -> dict[str, Any]:
        order_id = new_id("ord")
        self.db.execute(
            "INSERT INTO orders VALUES (?, ?, 'pending', ?, ?, NULL, ?)",
            (order_id, reference, json.dumps(items), total, time.time()),
        )
        order = self.order(order_id)
        assert order is not None
        return order

    def order(self, order_id: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM orders WHERE id = ?", (order_id,)).fetchone()
        if row is None:
            return None
        order = {"id": row["id"], "status": row["status"], "items": json.loads(row["items"]), "total": row["total"]}
        if row["reference"] is not None:
            order["reference"] = row["reference"]
        if row["payment_id"] is not None:
            order["payment_id"] = row["payment_id"]
        return order

    def set_order_paid(self, order_id: str, payment_id: str | None) -> None:
        status = "pending" if payment_id is None else "paid"
        self.db.execute("UPDATE orders SET status = ?, payment_id = ? WHERE id = ?", (status, payment_id, order_id))

    def delete_order(self, order_id: str) -> bool:
        return self.db.execute("DELETE FROM orders WHERE id = ?", (order_id,)).rowcount > 0

    def count_orders(self, reference: str | None = None) -> int:
        if reference is None:
            return int(self.db.execute("SELECT count(*) FROM orders").fetchone()[0])
        return int(self.db.execute("SELECT count(*) FROM orders WHERE reference = ?", (reference,)).fetchone()[0])

    # payments

    def add_payment(self, order: dict[str, Any], idempotency_key: str | None) -> dict[str, Any]:
        payment_id = new_id("pay")
        self.db.execute(
            "INSERT INTO payments VALUES (?, ?, ?, 'captured', ?, ?, ?)",
            (payment_id, order["id"], order["total"], order.get("reference"), idempotency_key, time.time()),
        )
        self.set_order_paid(order["id"], payment_id)
        payment = self.payment(payment_id)
        assert payment is not None
        return payment

    def payment(self, payment_id: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM payments WHERE id = ?", (payment_id,)).fetchone()
        return None if row is None else self._payment(row)

    def payment_by_key(self, idempotency_key: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM payments WHERE idempotency_key = ?", (idempotency_key,)).fetchone()
        return None if row is None else self._payment(row)

    @staticmethod
    def _payment(row: sqlite3.Row) -> dict[str, Any]:
        return {"id": row["id"], "status": row["status"], "order_id": row["order_id"], "amount": row["amount"]}

    def refund(self, payment_id: str) -> bool:
        """Take the payment back: it is gone, and its order is pending again."""
        payment = self.payment(payment_id)
        if payment is None:
            return False
        self.db.execute("DELETE FROM payments WHERE id = ?", (payment_id,))
        self.set_order_paid(payment["order_id"], None)
        return True

    def count_payments(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM payments").fetchone()[0])

    # reports

    def add_report(self, kind: str, reference: str | None, rows: int, ready_at: float) -> str:
        report_id = new_id("rep")
        self.db.execute("INSERT INTO reports VALUES (?, ?, ?, ?, ?)", (report_id, kind, reference, rows, ready_at))
        return report_id

    def report(self, report_id: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM reports WHERE id = ?", (report_id,)).fetchone()
        return None if row is None else dict(row)

    def delete_report(self, report_id: str) -> bool:
        return self.db.execute("DELETE FROM reports WHERE id = ?", (report_id,)).rowcount > 0

    # what a test left behind

    def left_behind(self, reference: str) -> dict[str, int]:
        """Rows that carry this reference (a smoke run's id), per table: what its cleanup missed."""
        pattern = f"%{reference}%"
        queries = {table: f"SELECT count(*) FROM {table} WHERE reference LIKE ?" for table in TABLES}  # constants
        return {table: int(self.db.execute(query, (pattern,)).fetchone()[0]) for table, query in queries.items()}
