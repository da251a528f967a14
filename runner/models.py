"""Tables: definitions, instances, human tasks, timers, audit, organisation."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
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
    status: Mapped[str] = mapped_column(String(16), default="waiting")  # waiting | fired | cancelled


class AuditEntry(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    instance_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    task_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    element_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[str] = mapped_column(Text, default="")
    changes: Mapped[dict] = mapped_column(JSON, default=dict)
    # The hash chain (runner/audit.py): id is the entry's place in the chain, without gaps.
    prev_hash: Mapped[str] = mapped_column(String(64), default="")
    hash: Mapped[str] = mapped_column(String(64), default="")


class AuditChain(Base):
    """The one-row head of the audit hash chain: the last entry's number and hash. Appends update it first,
    so on PostgreSQL its row lock serialises writers and the chain cannot fork."""

    __tablename__ = "audit_chain"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    hash: Mapped[str] = mapped_column(String(64), default="")


@event.listens_for(AuditEntry, "before_update")
@event.listens_for(AuditEntry, "before_delete")
def _audit_is_append_only(_mapper, _connection, target):
    raise PermissionError(f"审计日志只能追加，不能修改或删除（#{target.id}）")


@event.listens_for(AuditEntry, "before_insert")
def _audit_chained(_mapper, connection, target):
    from runner.audit import link

    link(connection, target)


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


class BusinessKeyCounter(Base):
    """The last number given out for one business-key stem (prefix and day, e.g. "AJYS-20260302-"): a start
    takes the next one with one UPDATE, which on PostgreSQL holds the row until commit, so two starts never
    get the same key and nothing counts or scans the instances."""

    __tablename__ = "business_key_counters"
    stem: Mapped[str] = mapped_column(String(64), primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)
