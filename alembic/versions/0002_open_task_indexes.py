"""Partial indexes of open tasks for the inbox page and its capped count (issue 10).

Revision ID: 0002_open_task_indexes
Revises: 0001_baseline
"""

import sqlalchemy as sa

from alembic import op

revision = "0002_open_task_indexes"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None

OPEN = sa.text("status = 'open'")


def upgrade() -> None:
    op.create_index("ix_human_tasks_open_role", "human_tasks", ["unit_code", "role", "due_at", "created_at", "id"],
                    postgresql_where=OPEN, sqlite_where=OPEN)
    op.create_index("ix_human_tasks_open_assignee", "human_tasks", ["assignee", "due_at", "created_at", "id"],
                    postgresql_where=OPEN, sqlite_where=OPEN)


def downgrade() -> None:
    op.drop_index("ix_human_tasks_open_assignee", table_name="human_tasks")
    op.drop_index("ix_human_tasks_open_role", table_name="human_tasks")
