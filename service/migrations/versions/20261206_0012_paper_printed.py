"""paper ballots: the number of sheets printed (serials 1..printed) beside those issued

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 02:00:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('voting_paper_count', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('printed', sa.Integer(), nullable=False, server_default='0')
        )


def downgrade() -> None:
    with op.batch_alter_table('voting_paper_count', schema=None) as batch_op:
        batch_op.drop_column('printed')
