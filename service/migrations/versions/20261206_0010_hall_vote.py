"""the vote in the hall: session mode, quorum, ballot method, run-offs; attendance, seat
cards and paper counts

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 00:00:00.000000
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel

import service.db


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('voting_session', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('mode', sa.String(length=8), nullable=False, server_default='remote')
        )
        batch_op.add_column(sa.Column('quorum', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
        batch_op.add_column(
            sa.Column(
                'ballot_method', sa.String(length=12), nullable=False, server_default='electronic'
            )
        )
        batch_op.add_column(sa.Column('runoff_of_id', sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f('ix_voting_session_runoff_of_id'), ['runoff_of_id'], unique=False
        )
        batch_op.create_foreign_key(
            'fk_voting_session_runoff_of_id', 'voting_session', ['runoff_of_id'], ['id']
        )
    op.create_table(
        'voting_attendance',
        sa.Column('session_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('method', sa.String(length=8), nullable=False),
        sa.Column('signed_in_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('signed_in_at', service.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['session_id'], ['voting_session.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['user_account.id']),
        sa.PrimaryKeyConstraint('session_id', 'user_id'),
    )
    op.create_table(
        'voting_seat_card',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('session_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.Column('code_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('issued_at', service.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('issued_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('revoked_at', service.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('revoked_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.ForeignKeyConstraint(['session_id'], ['voting_session.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['user_account.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('code_hash'),
    )
    with op.batch_alter_table('voting_seat_card', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_voting_seat_card_session_id'), ['session_id'], unique=False
        )
        batch_op.create_index(batch_op.f('ix_voting_seat_card_user_id'), ['user_id'], unique=False)
    op.create_table(
        'voting_paper_count',
        sa.Column('session_id', sa.Integer(), nullable=False),
        sa.Column('entry', sa.String(length=16), nullable=False),
        sa.Column('issued', sa.Integer(), nullable=False),
        sa.Column('collected', sa.Integer(), nullable=False),
        sa.Column('valid', sa.Integer(), nullable=False),
        sa.Column('invalid', sa.Integer(), nullable=False),
        sa.Column('counts', sa.JSON(), nullable=False),
        sa.Column('scrutineers', sa.JSON(), nullable=False),
        sa.Column('entered_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('entered_at', service.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['session_id'], ['voting_session.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('session_id'),
    )
    op.create_table(
        'voting_paper_ballot',
        sa.Column('session_id', sa.Integer(), nullable=False),
        sa.Column('serial', sa.Integer(), nullable=False),
        sa.Column('marks', sa.JSON(), nullable=False),
        sa.Column('valid', sa.Boolean(), nullable=False),
        sa.Column('invalid_reason', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.ForeignKeyConstraint(['session_id'], ['voting_session.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('session_id', 'serial'),
    )


def downgrade() -> None:
    op.drop_table('voting_paper_ballot')
    op.drop_table('voting_paper_count')
    with op.batch_alter_table('voting_seat_card', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_voting_seat_card_user_id'))
        batch_op.drop_index(batch_op.f('ix_voting_seat_card_session_id'))
    op.drop_table('voting_seat_card')
    op.drop_table('voting_attendance')
    with op.batch_alter_table('voting_session', schema=None) as batch_op:
        batch_op.drop_constraint('fk_voting_session_runoff_of_id', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_voting_session_runoff_of_id'))
        batch_op.drop_column('runoff_of_id')
        batch_op.drop_column('ballot_method')
        batch_op.drop_column('quorum')
        batch_op.drop_column('mode')
