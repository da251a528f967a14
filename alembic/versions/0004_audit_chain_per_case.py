"""An audit hash chain per case (issue 10): the head on the case's row, each entry's place as (chain_id, seq).

Entries written before this migration keep their hashes and stay the start of the system chain (numbered by
their id, head in audit_chain); nothing in audit_log is rewritten.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (no table copy): audit_log's append-only triggers stay as they are.
    op.add_column("audit_log", sa.Column("chain_id", sa.Integer(), nullable=True))
    op.add_column("audit_log", sa.Column("seq", sa.Integer(), nullable=True))
    op.create_index("ix_audit_log_chain", "audit_log", ["chain_id", "seq"], unique=True)
    op.add_column("process_instances", sa.Column("audit_seq", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("process_instances", sa.Column("audit_hash", sa.String(length=64), nullable=False,
                                                 server_default=""))
    # Entries were inserted with their chain number as id until now: PostgreSQL's id sequence never moved.
    from runner.audit import catch_up_ids

    catch_up_ids(op.get_bind())


def downgrade() -> None:
    # Entries chained per case cannot go back on the single chain without rewriting the log: refuse.
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT 1 FROM audit_log WHERE seq IS NOT NULL LIMIT 1")).first() is not None:
        raise RuntimeError("审计日志已按案件分链记录，不能降级到 0003（降级需改写审计日志）")
    with op.batch_alter_table("process_instances") as batch_op:
        batch_op.drop_column("audit_hash")
        batch_op.drop_column("audit_seq")
    op.drop_index("ix_audit_log_chain", table_name="audit_log")
    with op.batch_alter_table("audit_log") as batch_op:
        batch_op.drop_column("seq")
        batch_op.drop_column("chain_id")
