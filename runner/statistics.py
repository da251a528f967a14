"""Statistics a quarterly joint meeting (S2) reviews: started, finished, overdue per procedure and unit."""

from __future__ import annotations

from sqlalchemy.orm import Session


def quarter_statistics(session: Session, label: str) -> dict:
    """Counts for quarter LABEL (e.g. "2026Q1"), as plain JSON-able data for the meeting's task."""
    raise NotImplementedError("filled in with the quarterly_meeting diagram")
