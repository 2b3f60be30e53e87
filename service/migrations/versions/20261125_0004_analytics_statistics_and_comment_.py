"""analytics statistics and comment sentiment

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 11:45:06.612168
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel
import service.db


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('stat_cell',
    sa.Column('campaign_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('unit_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('area_unit_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('age_band', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('sex', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('question_key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('flagged', sa.Boolean(), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('n', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], name=op.f('fk_stat_cell_campaign_id_campaign'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('campaign_id', 'unit_id', 'area_unit_id', 'age_band', 'sex', 'question_key', 'flagged', 'value', name=op.f('pk_stat_cell'))
    )
    op.create_table('stat_unit',
    sa.Column('campaign_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('unit_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('question_key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('flagged', sa.Boolean(), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('n', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], name=op.f('fk_stat_unit_campaign_id_campaign'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('campaign_id', 'unit_id', 'question_key', 'flagged', 'value', name=op.f('pk_stat_unit'))
    )
    op.create_table('comment_sentiment',
    sa.Column('response_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('label', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('model', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['response_id'], ['survey_response.id'], name=op.f('fk_comment_sentiment_response_id_survey_response'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('response_id', name=op.f('pk_comment_sentiment'))
    )


def downgrade() -> None:
    op.drop_table('comment_sentiment')
    op.drop_table('stat_unit')
    op.drop_table('stat_cell')
