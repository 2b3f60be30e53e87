"""proposal moderation: a proposal waits for the office's review ("pending") before it is public

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 01:15:00.000000
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel
import service.db


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The status column is a plain string, so "pending" needs no schema change. Proposals
    # already in the database were public before moderation existed and keep their states
    # ("open" is the approved state), so nothing that is public today is hidden.
    with op.batch_alter_table('voting_proposal', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reviewed_at', service.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # A proposal still waiting would become public without review: reject it instead.
    op.execute("UPDATE voting_proposal SET status = 'rejected' WHERE status = 'pending'")
    with op.batch_alter_table('voting_proposal', schema=None) as batch_op:
        batch_op.drop_column('reviewed_at')
