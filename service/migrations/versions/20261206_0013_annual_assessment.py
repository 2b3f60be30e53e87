"""the annual assessment (综合考核): assessments with their frozen configuration, and the
scores staff enter (实绩, 改革攻坚、担当作为)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 02:00:00.000000
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel
import service.db


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('assessment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('config', sa.JSON(), nullable=False),
    sa.Column('config_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('finalised_at', service.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finalised_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assessment')),
    sa.UniqueConstraint('year', 'title', name=op.f('uq_assessment_year_title'))
    )
    op.create_table('assessment_score',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('assessment_id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('ci_low', sa.Float(), nullable=True),
    sa.Column('ci_high', sa.Float(), nullable=True),
    sa.Column('source_text', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('entered_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('entered_at', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['assessment_id'], ['assessment.id'], name=op.f('fk_assessment_score_assessment_id_assessment'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['subject_id'], ['evaluation_subject.id'], name=op.f('fk_assessment_score_subject_id_evaluation_subject')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assessment_score')),
    sa.UniqueConstraint('assessment_id', 'subject_id', 'source', name=op.f('uq_assessment_score_assessment_id_subject_id_source'))
    )
    with op.batch_alter_table('assessment_score', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_assessment_score_assessment_id'), ['assessment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_assessment_score_subject_id'), ['subject_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('assessment_score', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assessment_score_subject_id'))
        batch_op.drop_index(batch_op.f('ix_assessment_score_assessment_id'))

    op.drop_table('assessment_score')
    op.drop_table('assessment')
