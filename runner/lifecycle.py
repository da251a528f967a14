"""Ending a matter early: the initiator withdraws it (撤回), or the supervision office closes it (督查结案).

Both need a reason, are audited, and end every open task and timer of the matter.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from runner.access import deny, may_close, may_withdraw
from runner.errors import Conflict, Invalid, NotFound
from runner.models import AuditEntry, HumanTask, ProcessInstance
from runner.runtime import Runtime, spec_for
from runner.services import _guard, _user, lock_instance
from runner.sync import sync_instance

WITHDRAWN, CLOSED = "withdrawn", "closed"


def withdraw_instance(rt: Runtime, username: str, instance_id: int, reason: str, now: datetime) -> None:
    """Withdraw INSTANCE_ID as its initiator (or the initiating unit's head) while no other unit has acted."""
    _guard(lambda: _end(rt, username, instance_id, reason, now, WITHDRAWN))


def close_instance(rt: Runtime, username: str, instance_id: int, reason: str, now: datetime) -> None:
    """Close a stuck INSTANCE_ID as the supervision office, with REASON."""
    _guard(lambda: _end(rt, username, instance_id, reason, now, CLOSED))


def _end(rt, username, instance_id, reason, now, how) -> None:
    reason = (reason or "").strip() if isinstance(reason, str) else ""
    with rt.session() as s, s.begin():
        user = _user(s, username)
        inst = s.get(ProcessInstance, int(instance_id))
        if inst is None:
            raise NotFound("案件不存在")
        word = "撤回" if how == WITHDRAWN else "督查结案"
        # the refusal names no case: the user may not be allowed to read it
        if how == WITHDRAWN and not may_withdraw(user, inst.initiator, inst.initiator_unit):
            raise deny(rt, username, "withdraw", f"{user.display_name} 不是该事项的发起人，不能撤回", now, inst.id)
        if how == CLOSED and not may_close(user):
            raise deny(rt, username, "close", f"{user.display_name} 无权督查结案", now, inst.id)
        # refusals are audited in their own transaction, so the case lock is taken only after them
        inst = lock_instance(s, inst.id)
        if inst.status != "running":
            raise Conflict(f"「{inst.title}」已经结束，不能{word}")
        if not reason:
            raise Invalid(f"请写明{word}理由", {"reason": f"须写明{word}理由"})
        if how == WITHDRAWN:
            acted = s.scalars(select(HumanTask.name).where(
                HumanTask.instance_id == inst.id, HumanTask.status == "completed",
                HumanTask.unit_code != inst.initiator_unit, HumanTask.kind != "notice")).first()
            if acted:
                raise Invalid(f"其他单位已办理「{acted}」，不能撤回；如确需终止，请县政府督查室督查结案")
        wf = rt.engine.load_state(inst.state_json, spec_for(rt, inst.definition), inst.serializer_version)
        rt.engine.cancel(wf)
        inst.status, inst.ended_at, inst.end_event = how, now, None
        s.add(AuditEntry(at=now, actor=user.username, action="withdraw" if how == WITHDRAWN else "close",
                         instance_id=inst.id, detail=f"{word}：{reason}"))
        sync_instance(rt, s, inst, wf, now)

