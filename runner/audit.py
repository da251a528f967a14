"""The audit log's guarantees in the database itself: triggers refuse UPDATE and DELETE, and a hash chain
makes a removed or altered row detectable (`liandong audit verify`).

Each entry stores sha256(its content + the previous entry's hash); the one-row table audit_chain holds the
last number and hash. An append updates that row first: on PostgreSQL its row lock makes concurrent appends
wait their turn, and on SQLite the update takes the database's write lock, so the chain never forks.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC

from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from runner.models import AuditChain, AuditEntry

REFUSAL = "审计日志只能追加，不能修改或删除"

_SQLITE = [
    f"CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log "
    f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END",
    f"CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log "
    f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END",
    f"CREATE TRIGGER IF NOT EXISTS audit_chain_no_delete BEFORE DELETE ON audit_chain "
    f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END",
]
_POSTGRESQL = [
    f"CREATE OR REPLACE FUNCTION audit_log_refuse() RETURNS trigger LANGUAGE plpgsql AS "
    f"$$ BEGIN RAISE EXCEPTION '{REFUSAL}' USING ERRCODE = 'insufficient_privilege'; END $$",
    "DROP TRIGGER IF EXISTS audit_log_no_change ON audit_log",
    "CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION audit_log_refuse()",
    "DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log",
    "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse()",
    "DROP TRIGGER IF EXISTS audit_chain_no_delete ON audit_chain",
    "CREATE TRIGGER audit_chain_no_delete BEFORE DELETE OR TRUNCATE ON audit_chain "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse()",
]


def install(conn: Connection) -> None:
    """Create the triggers and the chain head (idempotent). A log that predates the chain keeps its rows
    as an unchained prefix: the head starts after them."""
    for statement in _POSTGRESQL if conn.dialect.name == "postgresql" else _SQLITE:
        conn.exec_driver_sql(statement)
    if conn.execute(select(AuditChain.id).where(AuditChain.id == 1)).first() is None:
        last = conn.execute(select(func.coalesce(func.max(AuditEntry.id), 0))).scalar_one()
        conn.execute(AuditChain.__table__.insert().values(id=1, seq=last, hash=""))


def uninstall(conn: Connection) -> None:
    """Drop what install made outside the tables (the tables' own triggers go with them)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("DROP FUNCTION IF EXISTS audit_log_refuse() CASCADE")


def link(conn: Connection, entry: AuditEntry) -> None:
    """Give ENTRY the next number in the chain and its hash, and move the head (before it is inserted)."""
    # Update first: this takes the lock that serialises appends, so the read below sees the true last entry.
    # One round trip: RETURNING gives the new number and the previous hash (SQLite 3.35+, PostgreSQL).
    head = conn.execute(text("UPDATE audit_chain SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")).first()
    if head is None:
        raise RuntimeError("审计日志的哈希链头缺失，不能追加记录")
    seq, prev = head
    entry.detail = entry.detail or ""
    entry.changes = _plain(entry.changes or {})
    entry.id, entry.prev_hash = seq, prev
    entry.hash = entry_hash(entry)
    conn.execute(text("UPDATE audit_chain SET hash = :h WHERE id = 1"), {"h": entry.hash})


def entry_hash(entry: AuditEntry) -> str:
    content = [entry.id, entry.at.astimezone(UTC).isoformat(), entry.actor, entry.action, entry.instance_id,
               entry.task_id, entry.element_id, entry.detail or "", _plain(entry.changes or {}), entry.prev_hash]
    return hashlib.sha256(_canonical(content).encode("utf-8")).hexdigest()


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _plain(value):
    """VALUE as it reads back from a JSON column (tuples become lists, keys strings), so hashes agree."""
    return json.loads(json.dumps(value, ensure_ascii=False, default=str))


@dataclass
class Verdict:
    checked: int  # chained entries checked
    unchained: int  # entries from before the chain existed
    problem: str | None  # the first removed or altered entry, in words

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify(s: Session) -> Verdict:
    """Walk the log in order and report the first entry that was removed or altered."""
    head = s.get(AuditChain, 1)
    if head is None:
        return Verdict(0, 0, "审计日志的哈希链头缺失：无法校验，链头可能被删除")
    checked = unchained = last = 0
    prev = ""
    for entry in _in_order(s):
        if not checked and not entry.hash and not entry.prev_hash:
            unchained, last = unchained + 1, entry.id  # written before the chain was installed
            continue
        if checked and entry.id != last + 1:
            return Verdict(checked, unchained, _missing(last + 1, entry.id - 1))
        if entry.prev_hash != prev:
            return Verdict(checked, unchained,
                           f"第 {entry.id} 条审计记录所记的上一条哈希不符：第 {entry.id - 1} 条被改动或删除")
        if entry_hash(entry) != entry.hash:
            return Verdict(checked, unchained, f"第 {entry.id} 条审计记录被改动（{_describe(entry)}）")
        checked, last, prev = checked + 1, entry.id, entry.hash
    if head.seq > last:
        return Verdict(checked, unchained, _missing(last + 1, head.seq) + "（日志末尾）")
    if head.hash != prev:
        return Verdict(checked, unchained, f"第 {last} 条审计记录与哈希链头不符：该条被改动")
    return Verdict(checked, unchained, None)


def _in_order(s: Session, batch: int = 1000):
    """Every entry by number, a batch at a time (keyset pages: no open cursor left behind on an early stop)."""
    after = None
    while True:
        query = select(AuditEntry).order_by(AuditEntry.id).limit(batch)
        if after is not None:
            query = query.where(AuditEntry.id > after)
        page = s.scalars(query).all()
        s.expunge_all()
        yield from page
        if len(page) < batch:
            return
        after = page[-1].id


def _missing(first: int, last: int) -> str:
    if first == last:
        return f"第 {first} 条审计记录缺失：已被删除"
    return f"第 {first} 至 {last} 条审计记录缺失：已被删除"


def _describe(entry: AuditEntry) -> str:
    return f"{entry.at.isoformat(timespec='seconds')} {entry.actor} {entry.action}"
