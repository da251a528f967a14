"""A second version of a procedure for the compare tests: version 1's XML edited, stored as a draft by
runner/versions (refused, as there, when its meaning is the same)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from runner import versions
from runner.models import ProcessDefinition
from runner.runtime import Runtime

LETTER_3 = "working_days_after(notice_date, 3)"
LETTER_5 = "working_days_after(notice_date, 5)"


def add_version(rt: Runtime, key: str, now: datetime, *pairs: tuple[str, str], forms: dict | None = None) -> int:
    """Store version 1 of KEY with each (old, new) of PAIRS replaced in its XML as a new draft; its number."""
    with rt.session() as s, s.begin():
        base = s.scalars(select(ProcessDefinition).where(ProcessDefinition.process_key == key,
                                                         ProcessDefinition.version == 1)).one()
        xml = base.bpmn_xml
        for old, new in pairs:
            assert old in xml, old
            xml = xml.replace(old, new)
        row = versions._store_draft(rt, s, xml, dict(forms if forms is not None else base.forms), now,
                                    "justice.legal", "测试：修改后的版本", key)
        return row.version
