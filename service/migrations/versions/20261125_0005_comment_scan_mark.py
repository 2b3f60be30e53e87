"""comment scan mark: how far the comment views have looked for unscored comments

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 15:24:22.736615
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel
import service.db


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('comment_scan_mark',
    sa.Column('campaign_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('response_id', sa.Integer(), nullable=False),
    sa.Column('responses', sa.Integer(), nullable=False),
    sa.Column('updated_at', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], name=op.f('fk_comment_scan_mark_campaign_id_campaign'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('campaign_id', name=op.f('pk_comment_scan_mark'))
    )


def downgrade() -> None:
    op.drop_table('comment_scan_mark')
