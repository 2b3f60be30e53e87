"""voting projects proposals sessions ballots

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 11:56:39.286588
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel
import service.db


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('voting_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('title_en', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('budget_cap', sa.BigInteger(), nullable=False),
    sa.Column('max_selected', sa.Integer(), nullable=True),
    sa.Column('max_for_per_ballot', sa.Integer(), nullable=True),
    sa.Column('threshold', sa.JSON(), nullable=False),
    sa.Column('on_no_fit', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('frozen_config', sa.JSON(), nullable=True),
    sa.Column('config_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.Column('created_at', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('opened_at', service.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_at', service.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('published_at', service.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_voting_session'))
    )
    with op.batch_alter_table('voting_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_voting_session_state'), ['state'], unique=False)

    op.create_table('voting_ballot',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('receipt_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['voting_session.id'], name=op.f('fk_voting_ballot_session_id_voting_session'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_voting_ballot')),
    sa.UniqueConstraint('receipt_hash', name=op.f('uq_voting_ballot_receipt_hash'))
    )
    with op.batch_alter_table('voting_ballot', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_voting_ballot_session_id'), ['session_id'], unique=False)

    op.create_table('voting_project',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('title_en', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('description_en', sa.Text(), nullable=False),
    sa.Column('category', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('budget', sa.BigInteger(), nullable=False),
    sa.Column('sponsor_unit_id', sa.Integer(), nullable=False),
    sa.Column('area_unit_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=True),
    sa.Column('percent_done', sa.Integer(), nullable=False),
    sa.Column('created_at', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['area_unit_id'], ['unit.id'], name=op.f('fk_voting_project_area_unit_id_unit')),
    sa.ForeignKeyConstraint(['sponsor_unit_id'], ['unit.id'], name=op.f('fk_voting_project_sponsor_unit_id_unit')),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], name=op.f('fk_voting_project_unit_id_unit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_voting_project'))
    )
    with op.batch_alter_table('voting_project', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_voting_project_category'), ['category'], unique=False)
        batch_op.create_index(batch_op.f('ix_voting_project_status'), ['status'], unique=False)

    op.create_table('voting_session_deputy',
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['voting_session.id'], name=op.f('fk_voting_session_deputy_session_id_voting_session'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_voting_session_deputy_user_id_user_account')),
    sa.PrimaryKeyConstraint('session_id', 'user_id', name=op.f('pk_voting_session_deputy'))
    )
    op.create_table('voting_voter',
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['voting_session.id'], name=op.f('fk_voting_voter_session_id_voting_session'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_voting_voter_user_id_user_account')),
    sa.PrimaryKeyConstraint('session_id', 'user_id', name=op.f('pk_voting_voter'))
    )
    op.create_table('voting_ballot_mark',
    sa.Column('ballot_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('choice', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.ForeignKeyConstraint(['ballot_id'], ['voting_ballot.id'], name=op.f('fk_voting_ballot_mark_ballot_id_voting_ballot'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['project_id'], ['voting_project.id'], name=op.f('fk_voting_ballot_mark_project_id_voting_project')),
    sa.PrimaryKeyConstraint('ballot_id', 'project_id', name=op.f('pk_voting_ballot_mark'))
    )
    with op.batch_alter_table('voting_ballot_mark', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_voting_ballot_mark_project_id'), ['project_id'], unique=False)

    op.create_table('voting_project_update',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('on_date', sa.Date(), nullable=False),
    sa.Column('percent_done', sa.Integer(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('author', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['voting_project.id'], name=op.f('fk_voting_project_update_project_id_voting_project'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_voting_project_update'))
    )
    with op.batch_alter_table('voting_project_update', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_voting_project_update_project_id'), ['project_id'], unique=False)

    op.create_table('voting_proposal',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('category', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('area_unit_id', sa.Integer(), nullable=True),
    sa.Column('rough_cost', sa.BigInteger(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('merged_into_id', sa.Integer(), nullable=True),
    sa.Column('project_id', sa.Integer(), nullable=True),
    sa.Column('support_count', sa.Integer(), nullable=False),
    sa.Column('review_note', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('created_at', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['area_unit_id'], ['unit.id'], name=op.f('fk_voting_proposal_area_unit_id_unit')),
    sa.ForeignKeyConstraint(['merged_into_id'], ['voting_proposal.id'], name=op.f('fk_voting_proposal_merged_into_id_voting_proposal')),
    sa.ForeignKeyConstraint(['project_id'], ['voting_project.id'], name=op.f('fk_voting_proposal_project_id_voting_project')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_voting_proposal'))
    )
    with op.batch_alter_table('voting_proposal', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_voting_proposal_status'), ['status'], unique=False)

    op.create_table('voting_session_project',
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['voting_project.id'], name=op.f('fk_voting_session_project_project_id_voting_project')),
    sa.ForeignKeyConstraint(['session_id'], ['voting_session.id'], name=op.f('fk_voting_session_project_session_id_voting_session'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('session_id', 'project_id', name=op.f('pk_voting_session_project'))
    )
    op.create_table('voting_proposal_support',
    sa.Column('proposal_id', sa.Integer(), nullable=False),
    sa.Column('supporter_key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('network_key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.ForeignKeyConstraint(['proposal_id'], ['voting_proposal.id'], name=op.f('fk_voting_proposal_support_proposal_id_voting_proposal'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('proposal_id', 'supporter_key', name=op.f('pk_voting_proposal_support'))
    )
    with op.batch_alter_table('voting_proposal_support', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_voting_proposal_support_network_key'), ['network_key'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('voting_proposal_support', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_voting_proposal_support_network_key'))

    op.drop_table('voting_proposal_support')
    op.drop_table('voting_session_project')
    with op.batch_alter_table('voting_proposal', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_voting_proposal_status'))

    op.drop_table('voting_proposal')
    with op.batch_alter_table('voting_project_update', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_voting_project_update_project_id'))

    op.drop_table('voting_project_update')
    with op.batch_alter_table('voting_ballot_mark', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_voting_ballot_mark_project_id'))

    op.drop_table('voting_ballot_mark')
    op.drop_table('voting_voter')
    op.drop_table('voting_session_deputy')
    with op.batch_alter_table('voting_project', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_voting_project_status'))
        batch_op.drop_index(batch_op.f('ix_voting_project_category'))

    op.drop_table('voting_project')
    with op.batch_alter_table('voting_ballot', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_voting_ballot_session_id'))

    op.drop_table('voting_ballot')
    with op.batch_alter_table('voting_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_voting_session_state'))

    op.drop_table('voting_session')
