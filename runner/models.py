"""Tables: definitions, instances, human tasks, timers, audit, organisation."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    DDL,
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from runner.db import Base


class _UTCDateTime(TypeDecorator):
    """Aware datetimes in, aware UTC datetimes out, on SQLite (which keeps no zone) and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UTCDateTime = _UTCDateTime()


class Unit(Base):
    __tablename__ = "units"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))  # department | town | street | zone | office
    member: Mapped[bool] = mapped_column(Boolean, default=False)  # listed in the policy's attachment


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(128))
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"))
    role: Mapped[str] = mapped_column(String(32))
    fields: Mapped[list] = mapped_column(JSON, default=list)  # fields a leader in charge oversees
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    unit: Mapped[Unit] = relationship(lazy="joined")


class ProcessDefinition(Base):
    __tablename__ = "process_definitions"
    __table_args__ = (UniqueConstraint("process_key", "version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    process_key: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(128))
    checksum: Mapped[str] = mapped_column(String(64))
    bpmn_xml: Mapped[str] = mapped_column(Text)
    forms: Mapped[dict] = mapped_column(JSON, default=dict)  # form file -> JSON Schema
    # scenario name -> YAML text: the version's own scenarios, run by the activation gate (runner/versions.py)
    scenarios: Mapped[dict] = mapped_column(JSON, default=dict, server_default="{}")
    spec_json: Mapped[str] = mapped_column(Text)  # serialized spec, stored once per version
    effective_from: Mapped[str | None] = mapped_column(String(10), nullable=True)
    effective_to: Mapped[str | None] = mapped_column(String(10), nullable=True)
    # draft (stored, not yet in force) | active (in force within its window) | retired (withdrawn)
    status: Mapped[str] = mapped_column(String(16), default="active", index=True)
    basis_number: Mapped[str] = mapped_column(String(128), default="")  # the policy document, e.g. 源政办发〔2021〕19号
    basis_title: Mapped[str] = mapped_column(String(255), default="")
    author: Mapped[str] = mapped_column(String(64), default="")
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    approved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime)

    @property
    def active(self) -> bool:
        return self.status == "active"


class ProcessInstance(Base):
    __tablename__ = "process_instances"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definitions.id"), index=True)
    process_key: Mapped[str] = mapped_column(String(64), index=True)
    business_key: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(255), default="")
    status: Mapped[str] = mapped_column(String(16), default="running", index=True)  # running | completed
    end_event: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the outcome
    end_events: Mapped[list] = mapped_column(JSON, default=list)  # every end reached, in order
    initiator: Mapped[str] = mapped_column(String(64))
    initiator_unit: Mapped[str] = mapped_column(String(64), index=True)
    units: Mapped[list] = mapped_column(JSON, default=list)  # every unit that takes part
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    serializer_version: Mapped[str] = mapped_column(String(16))
    state_json: Mapped[str] = mapped_column(Text)
    data_summary: Mapped[dict] = mapped_column(JSON, default=dict)
    lock_version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    # The head of this case's own audit hash chain (runner/audit.py): the number and hash of its last entry.
    # Moved by the action that already holds this row's lock, in the same UPDATE: cases never wait on each other.
    audit_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    audit_hash: Mapped[str] = mapped_column(String(64), default="", server_default="")
    # Joined for reads (a page may use it after its session closed); the write path loads only the head of
    # the definition row (runner.services.lock_instance) and the runtime caches the parsed version.
    definition: Mapped[ProcessDefinition] = relationship(lazy="joined")

    __mapper_args__ = {"version_id_col": lock_version}


class InstanceUnit(Base):
    """Which units take part in which instance: the indexed form of ProcessInstance.units, so "cases my
    unit takes part in" is an index lookup rather than a scan of JSON."""

    __tablename__ = "instance_units"
    __table_args__ = (Index("ix_instance_units_unit", "unit_code", "instance_id"),)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id"), primary_key=True)
    unit_code: Mapped[str] = mapped_column(String(64), primary_key=True)


class HumanTask(Base):
    __tablename__ = "human_tasks"
    __table_args__ = (
        Index("ix_human_tasks_inbox", "status", "unit_code", "role", "due_at"),
        Index("ix_human_tasks_assignee", "status", "assignee", "due_at"),
        Index("ix_human_tasks_completed_by", "completed_by", "completed_at"),
        # Open tasks only (a small fraction of the table), in the inbox's order: a page is the first rows of
        # one index range, and its capped count reads at most 1001 entries.
        Index("ix_human_tasks_open_role", "unit_code", "role", "due_at", "created_at", "id",
              postgresql_where=text("status = 'open'"), sqlite_where=text("status = 'open'")),
        Index("ix_human_tasks_open_assignee", "assignee", "due_at", "created_at", "id",
              postgresql_where=text("status = 'open'"), sqlite_where=text("status = 'open'")),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the engine's task id
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id"), index=True)
    process_key: Mapped[str] = mapped_column(String(64))
    business_key: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(255), default="")
    element_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16), default="task")  # task | supervision
    unit_code: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(32))
    field: Mapped[str | None] = mapped_column(String(32), nullable=True)  # for a leader in charge
    assignee: Mapped[str | None] = mapped_column(String(64), nullable=True)
    form_file: Mapped[str | None] = mapped_column(String(128), nullable=True)
    rules: Mapped[list] = mapped_column(JSON, default=list)
    documentation: Mapped[str] = mapped_column(Text, default="")
    late_unit: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # a supervision task: what the late unit failed to do in time, and by when (recorded when it opens)
    late_task_name: Mapped[str | None] = mapped_column(String(128), nullable=True)
    late_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # ... and how many 督办 the late unit has had on this matter, this one included (runner/notices.py)
    late_repeat: Mapped[int | None] = mapped_column(Integer, nullable=True)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | completed | cancelled
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    completed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class Timer(Base):
    __tablename__ = "timers"
    __table_args__ = (Index("ix_timers_due", "status", "due_at"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the engine's task id
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id"), index=True)
    element_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(128))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="waiting")  # waiting | fired | done (cancelled)
    # Worker bookkeeping (runner/worker.py): who holds the row and until when (a lease; an expired one is taken
    # up again), failures so far with the last error, when to try again, and whether it is parked for an admin.
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str] = mapped_column(Text, default="", server_default="")
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    parked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false(), index=True)


class AuditEntry(Base):
    __tablename__ = "audit_log"
    # One chain per case, and one (the system chain) for entries written without a case's lock: each entry's
    # place in its chain is (chain_id, seq), without gaps.
    __table_args__ = (Index("ix_audit_log_chain", "chain_id", "seq", unique=True),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    instance_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    task_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    element_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[str] = mapped_column(Text, default="")
    changes: Mapped[dict] = mapped_column(JSON, default=dict)
    # The hash chain (runner/audit.py). chain_id: the case whose chain holds the entry (None: the system chain);
    # seq: its number there. Both None for an entry written before migration 0004, whose number is its id.
    chain_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64), default="")
    hash: Mapped[str] = mapped_column(String(64), default="")


class AuditChain(Base):
    """The one-row head of the system audit chain (entries written without holding a case's lock: refusals,
    notices read, reminders...): the last entry's number and hash. Appends update it first, so on PostgreSQL
    its row lock serialises those writers and the chain cannot fork. A case's chain has its head on the case."""

    __tablename__ = "audit_chain"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    hash: Mapped[str] = mapped_column(String(64), default="")


@event.listens_for(AuditEntry, "before_update")
@event.listens_for(AuditEntry, "before_delete")
def _audit_is_append_only(_mapper, _connection, target):
    raise PermissionError(f"审计日志只能追加，不能修改或删除（#{target.id}）")


class Upload(Base):
    """A file uploaded into a case: only files recorded here for a case are served from that case."""

    __tablename__ = "uploads"
    __table_args__ = (Index("ix_uploads_instance_file", "instance_id", "sha256", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id"))
    task_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    name: Mapped[str] = mapped_column(String(255))
    uploader: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(Text, default="")  # e.g. what a correction corrects
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("uploads.id"), nullable=True)


class LoginAttempt(Base):
    """Sign-in attempts counted per key (an account, an address, or both), shared by every web process.

    A row is claimed with one atomic UPDATE before the password is checked, so parallel guesses cannot all
    pass the throttle (webui/throttle.py)."""

    __tablename__ = "login_attempts"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of kind + address/account
    failures: Mapped[int] = mapped_column(Integer, default=0)  # attempts not (yet) proven right
    last_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class UserSession(Base):
    """A signed-in session, so it can be ended on the server (logout, password change, deactivation)."""

    __tablename__ = "user_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the token in the signed cookie
    username: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CalendarYear(Base):
    """One year's State Council holiday schedule as loaded by an administrator; it replaces what the
    `chinesecalendar` package says about that year (runner/holidays.py)."""

    __tablename__ = "calendar_years"
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    document: Mapped[str] = mapped_column(String(128))  # e.g. 国办发明电〔2026〕N号
    holidays: Mapped[list] = mapped_column(JSON, default=list)  # [{"name": "春节", "dates": ["2027-..."]}]
    workdays: Mapped[list] = mapped_column(JSON, default=list)  # weekend days made working days (调休)
    loaded_by: Mapped[str] = mapped_column(String(64))
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revision: Mapped[int] = mapped_column(Integer, default=0)  # +1 per load: other processes see the change
    # the deadlines the last load moved: [{"instance_id", "business_key", "task", "old", "new", "days"}]
    moves: Mapped[list] = mapped_column(JSON, default=list)


class DeadlineBasis(Base):
    """How a working-day deadline was counted (START + N working days), so a changed holiday schedule can
    count it again. Matched to waiting timers and open tasks of the instance by its due time."""

    __tablename__ = "deadline_bases"
    __table_args__ = (Index("ix_deadline_bases_instance_due", "instance_id", "due_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id"))
    start_date: Mapped[str] = mapped_column(String(10))  # ISO date in Asia/Shanghai
    working_days: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)
class Notice(Base):
    """An outcome told to a unit (runner/notices.py): not a task, nothing to do but read it.

    Written in the same transaction as the step it tells of; (instance_id, source) is unique, so a step that
    is run again (a retried timer, a replayed sync) never tells twice."""

    __tablename__ = "notices"
    __table_args__ = (UniqueConstraint("instance_id", "source"),
                      Index("ix_notices_unit", "unit_code", "read_at", "created_at"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id"), index=True)
    unit_code: Mapped[str] = mapped_column(String(64))  # the unit told
    source: Mapped[str] = mapped_column(String(80))  # what told it: "end:<element>", "task:<id>", "supervision:<id>"
    element_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16), default="outcome")  # outcome | supervision
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    read_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
@event.listens_for(Upload, "before_update")
@event.listens_for(Upload, "before_delete")
def _evidence_is_kept(_mapper, _connection, target):
    # Evidence recorded with a completed step is part of the file: a correction is a new upload.
    raise PermissionError(f"证据材料一经提交不能修改或删除，更正请补充新文件（#{target.id}）")


class DocumentTemplate(Base):
    """One version of a document template (runner/document_templates/*.html): a new row whenever the text
    changes, like a diagram version, so every issued document names the exact text it was written from."""

    __tablename__ = "document_templates"
    __table_args__ = (UniqueConstraint("name", "version"), UniqueConstraint("name", "sha256"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DocumentCounter(Base):
    """The last number given per issuing unit, kind of document and year; locked (FOR UPDATE) to number."""

    __tablename__ = "document_counters"
    unit_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class Document(Base):
    """An issued document (移送函, 方案, 通知...): immutable; a correction is a new row naming the old one."""

    __tablename__ = "documents"
    __table_args__ = (UniqueConstraint("unit_code", "kind", "year", "seq"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"))
    year: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    number: Mapped[str] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(String(255))
    recipient_unit: Mapped[str | None] = mapped_column(String(64), nullable=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    issued_on: Mapped[str] = mapped_column(String(10))  # the county-local date printed on it
    issued_by: Mapped[str] = mapped_column(String(64))
    template_id: Mapped[int] = mapped_column(ForeignKey("document_templates.id"))
    facts: Mapped[dict] = mapped_column(JSON, default=dict)  # what the template was given
    html: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"), nullable=True)


@event.listens_for(Document, "before_update")
@event.listens_for(Document, "before_delete")
def _document_is_immutable(_mapper, _connection, target):
    raise PermissionError(f"已出具的文书不能修改或删除，更正请出具新文书（{target.number}）")


class Receipt(Base):
    """The receiving unit's acknowledgement (签收) of a document; its date starts the receiver's own clock."""

    __tablename__ = "receipts"
    __table_args__ = (UniqueConstraint("document_id", "unit_code"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), index=True)
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"))
    received_on: Mapped[str] = mapped_column(String(10))  # county-local date: day D of "from the day received"
    received_by: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class CatalogueEntry(Base):
    """One dataset a unit publishes in its 执法信息资源目录 (F4): what it holds and how a query is answered."""

    __tablename__ = "catalogue_entries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    fields: Mapped[list] = mapped_column(JSON, default=list)  # the data items a record holds
    answer_mode: Mapped[str] = mapped_column(String(16))  # lookup | copy | statistics
    restriction_basis: Mapped[str] = mapped_column(Text, default="")  # legal basis of any restriction
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class StandingGrant(Base):
    """A unit's standing authorisation for another unit to query one of its entries (互相开放执法信息查询授权)."""

    __tablename__ = "standing_grants"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("catalogue_entries.id"), index=True)
    grantee_unit: Mapped[str] = mapped_column(ForeignKey("units.code"))
    granted_by: Mapped[str] = mapped_column(String(64))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


# The database itself refuses to change an issued document or recorded evidence (not only the ORM above).
_KEPT = "已出具的文书和已提交的证据不能修改或删除"
KEPT_TABLES = ("documents", "uploads")


def kept_triggers(table: str, dialect: str) -> list[str]:
    """The statements that make TABLE refuse UPDATE and DELETE (used at create_all and by the migration)."""
    if dialect == "postgresql":
        return [f"CREATE OR REPLACE FUNCTION kept_record_refuse() RETURNS trigger LANGUAGE plpgsql AS "
                f"$$ BEGIN RAISE EXCEPTION '{_KEPT}' USING ERRCODE = 'insufficient_privilege'; END $$",
                f"CREATE TRIGGER {table}_kept BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION kept_record_refuse()"]
    if dialect == "sqlite":
        return [f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{_KEPT}'); END" for op in ("UPDATE", "DELETE")]
    return []


for _table in (Document.__table__, Upload.__table__):
    for _dialect in ("postgresql", "sqlite"):
        for _sql in kept_triggers(_table.name, _dialect):
            event.listen(_table, "after_create", DDL(_sql).execute_if(dialect=_dialect))


class BusinessKeyCounter(Base):
    """The last number given out for one business-key stem (prefix and day, e.g. "AJYS-20260302-"): a start
    takes the next one with one UPDATE, which on PostgreSQL holds the row until commit, so two starts never
    get the same key and nothing counts or scans the instances."""

    __tablename__ = "business_key_counters"
    stem: Mapped[str] = mapped_column(String(64), primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


# The audit chains' session hooks (runner/audit.py) are registered whenever the tables are.
from runner import audit as _audit  # noqa: E402,F401
