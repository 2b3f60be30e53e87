"""run-offs: a selection session's policy for equal votes at the cut line (on_tie)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 03:00:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('voting_session', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('on_tie', sa.String(length=8), nullable=False, server_default='rule')
        )


def downgrade() -> None:
    with op.batch_alter_table('voting_session', schema=None) as batch_op:
        batch_op.drop_column('on_tie')
