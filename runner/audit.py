"""The audit log's guarantees in the database itself: triggers refuse UPDATE and DELETE, and hash chains
make a removed or altered row detectable (`liandong audit verify`).

Each entry stores sha256(its content + the previous entry's hash of the same chain). There is one chain per
case, and one system chain:

- An action that holds a case's row lock (`hold`, called by `services.lock_instance` and a start) chains the
  case's entries in memory and moves the case's head (process_instances.audit_seq / audit_hash) in the
  UPDATE of the case it makes anyway. Actions on different cases never wait on each other, and an entry
  costs one INSERT (batched with the others of the flush).
- Every other entry (refusals, notices read, reminders...: written without a case's lock) goes on the system
  chain, whose head is the one-row table audit_chain: the append updates that row first, so on PostgreSQL its
  row lock makes concurrent appends wait their turn, and on SQLite the update takes the database's write lock.

Entries written before migration 0004 form the start of the system chain, numbered by their id.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC

from sqlalchemy import event, func, select, text, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from runner.models import AuditChain, AuditEntry, ProcessInstance

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
    catch_up_ids(conn)


def catch_up_ids(conn: Connection) -> None:
    """Move PostgreSQL's id sequence of audit_log past its highest id when it lags behind: before 0004 every
    entry was inserted with its chain number as id, so the sequence never moved. (Left alone otherwise, so a
    process starting beside running ones never sets it back.)"""
    if conn.dialect.name != "postgresql":
        return  # SQLite gives max(id) + 1
    sequence = conn.execute(text("SELECT pg_get_serial_sequence('audit_log', 'id')")).scalar()
    if sequence is None:
        return
    last = conn.execute(select(func.coalesce(func.max(AuditEntry.id), 0))).scalar_one()
    value, called = conn.execute(text(f"SELECT last_value, is_called FROM {sequence}")).one()
    if last > (value if called else value - 1):  # the highest id the sequence has handed out
        conn.execute(text("SELECT setval(:s, :v, true)"), {"s": sequence, "v": last})


def uninstall(conn: Connection) -> None:
    """Drop what install made outside the tables (the tables' own triggers go with them)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("DROP FUNCTION IF EXISTS audit_log_refuse() CASCADE")


_HEADS = "liandong.audit_heads"


@dataclass
class _Head:
    """A case's chain head as this transaction moves it: kept in memory, written once at the commit."""

    inst: ProcessInstance
    seq: int
    hash: str
    written: int  # the number already in the row


def hold(s: Session, inst: ProcessInstance) -> None:
    """Chain this transaction's entries of case INST on the case's own chain. The caller holds INST's row lock
    (or created it) until the commit, and INST was loaded under that lock, so its head is the latest."""
    seq = inst.audit_seq or 0
    s.info.setdefault(_HEADS, {})[inst.id] = _Head(inst, seq, inst.audit_hash or "", seq)


def _seal(entry: AuditEntry, chain_id: int | None, seq: int, prev: str) -> None:
    entry.detail = entry.detail or ""
    entry.changes = _plain(entry.changes or {})
    entry.chain_id, entry.seq, entry.prev_hash = chain_id, seq, prev
    entry.hash = entry_hash(entry)


def link_pending(session: Session) -> None:
    """Give every new entry of SESSION its place and hash: on its case's chain when the case is held, else on
    the system chain (one UPDATE ... RETURNING for all of them, and one UPDATE of the head's hash)."""
    pending = [o for o in session.new if isinstance(o, AuditEntry) and not o.hash]
    if not pending:
        return
    pending.sort(key=lambda o: sa_inspect(o).insert_order)
    heads = session.info.get(_HEADS, {})
    system = []
    for entry in pending:
        head = heads.get(entry.instance_id) if entry.instance_id is not None else None
        if head is None:
            system.append(entry)
            continue
        head.seq += 1
        _seal(entry, head.inst.id, head.seq, head.hash)
        head.hash = entry.hash
    if system:
        conn = session.connection()
        row = conn.execute(text("UPDATE audit_chain SET seq = seq + :n WHERE id = 1 RETURNING seq, hash"),
                           {"n": len(system)}).first()
        if row is None:
            raise RuntimeError("审计日志的哈希链头缺失，不能追加记录")
        last, prev = row
        for number, entry in enumerate(system, start=last - len(system) + 1):
            _seal(entry, None, number, prev)
            prev = entry.hash
        conn.execute(text("UPDATE audit_chain SET hash = :h WHERE id = 1"), {"h": prev})


def write_heads(session: Session) -> None:
    """Move each held case's head to its last entry: in the case's own pending UPDATE when it has one (no extra
    statement, no second version), else in an UPDATE of those two columns alone."""
    link_pending(session)
    for head in session.info.get(_HEADS, {}).values():
        if head.seq == head.written:
            continue
        inst = head.inst
        state = sa_inspect(inst)
        if state.pending or (state.persistent and session.is_modified(inst)):
            inst.audit_seq, inst.audit_hash = head.seq, head.hash
        else:
            session.connection().execute(update(ProcessInstance.__table__)
                                         .where(ProcessInstance.__table__.c.id == inst.id)
                                         .values(audit_seq=head.seq, audit_hash=head.hash))
            set_committed_value(inst, "audit_seq", head.seq)
            set_committed_value(inst, "audit_hash", head.hash)
        head.written = head.seq


@event.listens_for(Session, "before_flush")
def _link_before_flush(session, _context, _instances):
    link_pending(session)


@event.listens_for(Session, "before_commit")
def _heads_before_commit(session):
    if not session.in_nested_transaction():
        write_heads(session)


@event.listens_for(Session, "after_transaction_end")
def _forget_heads(session, transaction):
    if transaction.parent is None:
        session.info.pop(_HEADS, None)


def entry_hash(entry: AuditEntry) -> str:
    number = entry.id if entry.seq is None else entry.seq  # an entry from before 0004 is numbered by its id
    content = [number, entry.at.astimezone(UTC).isoformat(), entry.actor, entry.action, entry.instance_id,
               entry.task_id, entry.element_id, entry.detail or "", _plain(entry.changes or {}), entry.prev_hash]
    if entry.seq is not None:
        content.append(entry.chain_id)  # moving an entry to another chain changes its hash
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
    """Walk every chain in order and report the first entry that was removed or altered: the system chain,
    then each case's chain against the head kept on the case."""
    head = s.get(AuditChain, 1)
    if head is None:
        return Verdict(0, 0, "审计日志的哈希链头缺失：无法校验，链头可能被删除")
    system = _Walk("")
    unchained = 0
    legacy = _pages(s, select(AuditEntry).where(AuditEntry.seq.is_(None)), AuditEntry.id)
    later = _pages(s, select(AuditEntry).where(AuditEntry.chain_id.is_(None), AuditEntry.seq.is_not(None)),
                   AuditEntry.seq)
    for entry in legacy:
        if not system.checked and not entry.hash and not entry.prev_hash:
            unchained += 1  # written before the chain was installed: the chain starts after them
            system.last = entry.id
            continue
        if system.step(entry, entry.id):
            return Verdict(system.checked, unchained, system.problem)
    for entry in later:
        if system.step(entry, entry.seq):
            return Verdict(system.checked, unchained, system.problem)
    if system.end(head.seq, head.hash):
        return Verdict(system.checked, unchained, system.problem)
    checked = system.checked
    for chain_id, entries, case in _case_chains(s):
        walk = _Walk(f"案件 {case[1]}（#{chain_id}）的审计链：" if case else f"案件 #{chain_id} 的审计链：")
        for entry in entries:
            if walk.step(entry, entry.seq):
                return Verdict(checked + walk.checked, unchained, walk.problem)
        if case is None:
            walk.problem = walk.label + f"案件记录缺失或其链头被清零，{walk.checked} 条记录无从核对"
            return Verdict(checked + walk.checked, unchained, walk.problem)
        if walk.end(case[2], case[3]):
            return Verdict(checked + walk.checked, unchained, walk.problem)
        checked += walk.checked
    return Verdict(checked, unchained, None)


class _Walk:
    """One chain walked in order: numbers without gaps from 1 (or from where the chain starts), each entry
    naming the previous one's hash and hashing to its own."""

    def __init__(self, label: str):
        self.label, self.checked, self.last, self.prev, self.problem = label, 0, 0, "", None

    def step(self, entry: AuditEntry, number: int) -> bool:
        if (self.checked or self.label) and number != self.last + 1:
            self.problem = self.label + _missing(self.last + 1, number - 1)
        elif entry.prev_hash != self.prev:
            self.problem = self.label + f"第 {number} 条审计记录所记的上一条哈希不符：第 {number - 1} 条被改动或删除"
        elif entry_hash(entry) != entry.hash:
            self.problem = self.label + f"第 {number} 条审计记录被改动（{_describe(entry)}）"
        else:
            self.checked, self.last, self.prev = self.checked + 1, number, entry.hash
            return False
        return True

    def end(self, seq: int, hash_: str) -> bool:
        if seq > self.last:
            self.problem = self.label + _missing(self.last + 1, seq) + "（日志末尾）"
        elif hash_ != self.prev:
            self.problem = self.label + f"第 {self.last} 条审计记录与哈希链头不符：该条被改动"
        return self.problem is not None


def _pages(s: Session, query, key, batch: int = 1000):
    """The rows of QUERY by KEY, a batch at a time (keyset pages: no open cursor left behind on an early stop)."""
    after = None
    while True:
        page = s.scalars((query if after is None else query.where(key > after)).order_by(key).limit(batch)).all()
        s.expunge_all()
        yield from page
        if len(page) < batch:
            return
        after = getattr(page[-1], key.key)


def _case_chains(s: Session, batch: int = 1000):
    """(case id, its entries in order, (id, business key, head seq, head hash) or None) for every case that has
    a chain or a head, in case order: the entries and the heads are read side by side, a page at a time."""
    def entries():
        after = (0, 0)
        while True:
            later = (AuditEntry.chain_id > after[0]) | ((AuditEntry.chain_id == after[0]) & (AuditEntry.seq > after[1]))
            page = s.scalars(select(AuditEntry).where(AuditEntry.chain_id.is_not(None), later)
                             .order_by(AuditEntry.chain_id, AuditEntry.seq).limit(batch)).all()
            s.expunge_all()
            yield from page
            if len(page) < batch:
                return
            after = (page[-1].chain_id, page[-1].seq)

    def heads():
        after = 0
        while True:
            page = s.execute(select(ProcessInstance.id, ProcessInstance.business_key, ProcessInstance.audit_seq,
                                    ProcessInstance.audit_hash)
                             .where(ProcessInstance.audit_seq > 0, ProcessInstance.id > after)
                             .order_by(ProcessInstance.id).limit(batch)).all()
            yield from (tuple(row) for row in page)
            if len(page) < batch:
                return
            after = page[-1][0]

    entry_iter, head_iter = entries(), heads()
    entry, case = next(entry_iter, None), next(head_iter, None)
    while entry is not None or case is not None:
        chain_id = min(x for x in (entry.chain_id if entry else None, case[0] if case else None) if x is not None)
        chain = []
        while entry is not None and entry.chain_id == chain_id:
            chain.append(entry)
            entry = next(entry_iter, None)
        this = case if case is not None and case[0] == chain_id else None
        if this is not None:
            case = next(head_iter, None)
        yield chain_id, chain, this


def _missing(first: int, last: int) -> str:
    if first > last:
        return f"第 {first} 条审计记录的编号重复或倒序"
    if first == last:
        return f"第 {first} 条审计记录缺失：已被删除"
    return f"第 {first} 至 {last} 条审计记录缺失：已被删除"


def _describe(entry: AuditEntry) -> str:
    return f"{entry.at.isoformat(timespec='seconds')} {entry.actor} {entry.action}"
