"""comment aspects: the dimensions each scored comment speaks of

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 04:20:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Null for comments scored before aspects existed: the scoring job tags them again when
    # the model's name changes, so a view never mistakes "not tagged yet" for "no aspect".
    with op.batch_alter_table('comment_sentiment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('aspects', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('comment_sentiment', schema=None) as batch_op:
        batch_op.drop_column('aspects')
