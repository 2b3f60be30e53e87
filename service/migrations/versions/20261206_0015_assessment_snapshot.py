"""the annual assessment's results stored when it is finalised (assessment_snapshot), so a
finalised assessment reads what was on file rather than recomputing from live data

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 14:00:00.000000
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel
import service.db


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('assessment_snapshot',
    sa.Column('assessment_id', sa.Integer(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('computed_at', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['assessment_id'], ['assessment.id'], name=op.f('fk_assessment_snapshot_assessment_id_assessment'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('assessment_id', name=op.f('pk_assessment_snapshot'))
    )


def downgrade() -> None:
    op.drop_table('assessment_snapshot')
