"""Database readers that diagrams may call (through the engine's readers, in the action's session)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from runner.models import HumanTask


def open_task_units(session: Session, business_key: str, element_id: str) -> list[str]:
    """Units that still have an open task ELEMENT_ID in case BUSINESS_KEY (e.g. late reporters)."""
    rows = session.scalars(select(HumanTask.unit_code).where(
        HumanTask.business_key == business_key, HumanTask.element_id == element_id,
        HumanTask.status == "open").order_by(HumanTask.unit_code))
    return sorted(set(rows))
