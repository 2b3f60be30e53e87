"""democratic evaluation (民主测评): subjects, campaign kind and configuration, rater groups on
invitation codes, raters' responses and grades; the organisation role needs no schema change

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 01:00:00.000000
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel

import service.db


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'evaluation_subject',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=8), nullable=False),
        sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('post', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('unit_id', sa.Integer(), nullable=True),
        sa.Column('term_start', sa.Date(), nullable=True),
        sa.Column('term_end', sa.Date(), nullable=True),
        sa.Column('is_active', sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column('created_at', service.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['unit_id'], ['unit.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('evaluation_subject', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_evaluation_subject_kind'), ['kind'], unique=False)
        batch_op.create_index(
            batch_op.f('ix_evaluation_subject_unit_id'), ['unit_id'], unique=False
        )
    op.create_table(
        'evaluation_campaign_subject',
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('subject_id', sa.Integer(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['subject_id'], ['evaluation_subject.id']),
        sa.PrimaryKeyConstraint('campaign_id', 'subject_id'),
    )
    op.create_table(
        'evaluation_response',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('rater_group', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('submitted_hour', service.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('evaluation_response', schema=None) as batch_op:
        batch_op.create_index(
            'ix_evaluation_response_campaign_group', ['campaign_id', 'rater_group'], unique=False
        )
    op.create_table(
        'evaluation_grade',
        sa.Column('response_id', sa.Integer(), nullable=False),
        sa.Column('subject_id', sa.Integer(), nullable=False),
        sa.Column('item', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('grade', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.ForeignKeyConstraint(['response_id'], ['evaluation_response.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['subject_id'], ['evaluation_subject.id']),
        sa.PrimaryKeyConstraint('response_id', 'subject_id', 'item'),
    )
    with op.batch_alter_table('evaluation_grade', schema=None) as batch_op:
        batch_op.create_index('ix_evaluation_grade_subject', ['subject_id'], unique=False)
    # Every campaign that exists today is a resident survey: the server default says so.
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                'kind',
                sqlmodel.sql.sqltypes.AutoString(length=24),
                server_default='resident',
                nullable=False,
            )
        )
        batch_op.add_column(sa.Column('evaluation', sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column('evaluation_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
    with op.batch_alter_table('invitation', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('rater_group', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table('invitation', schema=None) as batch_op:
        batch_op.drop_column('rater_group')
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.drop_column('evaluation_hash')
        batch_op.drop_column('evaluation')
        batch_op.drop_column('kind')
    with op.batch_alter_table('evaluation_grade', schema=None) as batch_op:
        batch_op.drop_index('ix_evaluation_grade_subject')
    op.drop_table('evaluation_grade')
    with op.batch_alter_table('evaluation_response', schema=None) as batch_op:
        batch_op.drop_index('ix_evaluation_response_campaign_group')
    op.drop_table('evaluation_response')
    op.drop_table('evaluation_campaign_subject')
    with op.batch_alter_table('evaluation_subject', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_evaluation_subject_unit_id'))
        batch_op.drop_index(batch_op.f('ix_evaluation_subject_kind'))
    op.drop_table('evaluation_subject')
