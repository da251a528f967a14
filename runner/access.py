"""Who may act on, read, oversee or start what: each Python rule beside its SQL twin.

Services (the write side) and queries (the read side) both import from here, so a rule is written once
and the two layers cannot drift apart. Each predicate takes a user that is either a `User` row or a
read-side `Viewer` (username, unit_code, role, fields and the unit's kind). Each SQL twin returns a list
of SQLAlchemy conditions selecting exactly the rows its predicate accepts; tests/runner/test_access.py
checks that they agree for every demo role and every shape of task on SQLite and PostgreSQL.

A refusal is written to the audit log in its own transaction before it is raised (`deny`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, false, or_, select, true

from runner.calendar import TZ
from runner.errors import Forbidden, Invalid
from runner.models import AuditEntry, HumanTask, InstanceUnit, ProcessInstance, Unit, User

# Units that follow up on every instance (S3): they may read all of them. The county government is the
# leading group's (领导小组) seat: the county head and the leaders in charge read the matters behind the
# supervision dashboard's figures (issue 9), as the offices that follow up on them do.
READ_ALL_UNITS = frozenset({"supervision_office", "justice_bureau", "county_government"})
# Who looks after the system itself, e.g. loads the next year's holiday schedule.
ADMIN_ROLES = frozenset({"admin", "legal_staff"})
# The head of a unit (单位负责人) oversees the unit's open work and may reassign it within the unit.
HEAD_ROLE = "unit_head"


def _fields(user) -> tuple[str, ...]:
    return tuple(user.fields or ())


def _unit_kind(user) -> str | None:
    kind = getattr(user, "unit_kind", None)
    if kind is None and getattr(user, "unit", None) is not None:
        kind = user.unit.kind
    return kind


# -- acting on a task -------------------------------------------------------------------------------
def _matches_role(user, row) -> bool:
    """The task is for the user's unit and role (and, for a leader in charge, one of the leader's fields)."""
    if user.unit_code != row.unit_code or user.role != row.role:
        return False
    return row.field is None or row.field in _fields(user)


def _role_match_sql(user) -> list:
    return [HumanTask.unit_code == user.unit_code, HumanTask.role == user.role,
            or_(HumanTask.field.is_(None), HumanTask.field.in_(list(_fields(user))))]


def can_act(user, row) -> bool:
    """Whether USER may act on task ROW: its assignee if it has one, else anyone whose unit and role (and,
    for a leader in charge, field) the task is for. The task's status is the caller's business."""
    if row.assignee:
        return row.assignee == user.username
    return _matches_role(user, row)


def can_act_sql(user):
    """SQL twin of can_act: one condition on HumanTask."""
    return or_(HumanTask.assignee == user.username, and_(HumanTask.assignee.is_(None), *_role_match_sql(user)))


# -- the worklist ------------------------------------------------------------------------------------
def in_worklist(user, row) -> bool:
    """Whether open task ROW shows in USER's own inbox: the ones USER may act on, and those of USER's unit and
    role that a colleague has claimed (shown so the user sees who holds them)."""
    return row.status == "open" and (row.assignee == user.username or _matches_role(user, row))


def worklist_branches(user) -> tuple[list, list]:
    """SQL twin of in_worklist as two disjoint branches, each answerable from one index.

    by_role: open tasks for the user's unit and role (and field) not claimed by the user
    (ix_human_tasks_inbox); mine: open tasks assigned or delegated to the user (ix_human_tasks_assignee).
    A union of the two keeps each branch on its index, where one OR would scan every open task."""
    by_role = [HumanTask.status == "open", *_role_match_sql(user),
               or_(HumanTask.assignee.is_(None), HumanTask.assignee != user.username)]
    mine = [HumanTask.status == "open", HumanTask.assignee == user.username]
    return by_role, mine


# -- a unit head's oversight ---------------------------------------------------------------------------
def is_head(user) -> bool:
    return user.role == HEAD_ROLE


def oversees(user, row) -> bool:
    """Whether USER, as the head of a unit, oversees open task ROW: every open task of the head's unit, of
    any role, claimed or not. A head who oversees a task may reassign it within the unit."""
    return is_head(user) and row.status == "open" and row.unit_code == user.unit_code


def oversees_sql(user) -> list:
    """SQL twin of oversees (on HumanTask, index ix_human_tasks_inbox)."""
    if not is_head(user):
        return [false()]
    return [HumanTask.status == "open", HumanTask.unit_code == user.unit_code]


def may_reassign_to(head, target) -> bool:
    """Whether HEAD may hand a task of the head's unit to TARGET: an active account of the same unit."""
    return bool(target.active) and target.unit_code == head.unit_code


# -- reading a case --------------------------------------------------------------------------------
def reads_everything(user) -> bool:
    return user.unit_code in READ_ALL_UNITS


def may_read(user, units: list[str] | None) -> bool:
    """Whether USER may read an instance taking in UNITS: its units do, and the offices that follow up on
    every instance (S3)."""
    return reads_everything(user) or user.unit_code in (units or [])


def may_read_sql(user) -> list:
    """SQL twin of may_read on ProcessInstance, through the InstanceUnit index."""
    if reads_everything(user):
        return []
    return [ProcessInstance.id.in_(select(InstanceUnit.instance_id).where(InstanceUnit.unit_code == user.unit_code))]


# -- starting ---------------------------------------------------------------------------------------
def _listed(bundle, name: str) -> list[str]:
    return [v.strip() for v in bundle.start_properties.get(name, "").split(",") if v.strip()]


def may_start(bundle, user) -> bool:
    """Whether USER's role and unit kind are among the diagram's starterRoles / starterUnitKinds."""
    roles, kinds = _listed(bundle, "starterRoles"), _listed(bundle, "starterUnitKinds")
    if not roles:
        return False
    return user.role in roles and (not kinds or _unit_kind(user) in kinds)


def may_start_sql(bundle) -> list:
    """SQL twin of may_start on User joined to its Unit."""
    roles, kinds = _listed(bundle, "starterRoles"), _listed(bundle, "starterUnitKinds")
    if not roles:
        return [false()]
    return [User.role.in_(roles), Unit.kind.in_(kinds) if kinds else true()]


def check_effective(definition, now: datetime) -> None:
    """Refuse to start under a definition outside its policy's validity window (V1)."""
    today = now.astimezone(TZ).date().isoformat()
    if definition.effective_from and today < definition.effective_from:
        raise Invalid(f"「{definition.name}」依据的政策自 {definition.effective_from} 起施行，尚不能发起")
    if definition.effective_to and today > definition.effective_to:
        raise Invalid(f"「{definition.name}」依据的政策已于 {definition.effective_to} 失效（V1）；"
                      "请法制审核人员在“流程版本库”页面建立并启用依据新政策的版本后再发起新的事项；"
                      "已发起的事项按原版本继续办理")


# -- administration ---------------------------------------------------------------------------------
# -- ending a matter early -------------------------------------------------------------------------
SUPERVISION_ROLE = "supervision_officer"


def may_withdraw(user, initiator: str, initiator_unit: str) -> bool:
    """The initiator, or the head of the initiating unit, may withdraw (撤回) a matter."""
    return user.username == initiator or (user.role == HEAD_ROLE and user.unit_code == initiator_unit)


def may_close(user) -> bool:
    """The supervision office may close (督查结案) a stuck matter."""
    return user.role == SUPERVISION_ROLE


def is_admin(user) -> bool:
    return user.role in ADMIN_ROLES


# -- refusals ---------------------------------------------------------------------------------------
def record_denial(rt, username: str, action: str, detail: str, now: datetime,
                  instance_id: int | None = None, task_id: str | None = None) -> None:
    """Write a denied attempt to the audit log in its own transaction (the action itself changed nothing)."""
    with rt.session() as s, s.begin():
        s.add(AuditEntry(at=now, actor=username, action="denied", instance_id=instance_id, task_id=task_id,
                         detail=f"{action}：{detail}"))


def deny(rt, username, action, message, now, instance_id=None, task_id=None) -> Forbidden:
    """Audit a refused attempt and return the Forbidden error to raise."""
    record_denial(rt, username, action, message, now, instance_id, task_id)
    return Forbidden(message)
