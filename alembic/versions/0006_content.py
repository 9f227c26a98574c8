"""content judgments: judged messages, violations, strikes, word lists, templates

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 20:52:20.105338
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op



revision: str = '0006'
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    
    op.create_table('judged_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('msg_id', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('chat_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('sender', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('msg_type', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('text_hash', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('chars', sa.Integer(), nullable=False),
    sa.Column('verdict', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('checks', sa.JSON(), nullable=True),
    sa.Column('sanctionable', sa.Boolean(), nullable=False),
    sa.Column('judged_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_judged_message')),
    sa.UniqueConstraint('source', 'msg_id', name='uq_judged_message_source_msg_id')
    )
    with op.batch_alter_table('judged_message', schema=None) as batch_op:
        batch_op.create_index('ix_judged_message_recent', ['chat_id', 'sender', 'sent_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_judged_message_text_hash'), ['text_hash'], unique=False)

    op.create_table('message_template',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('body', sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=False),
    sa.Column('updated_by', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_message_template'))
    )
    op.create_table('word_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rule_id', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('scope', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('word', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('added_by', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_word_entry')),
    sa.UniqueConstraint('rule_id', 'scope', 'word', name='uq_word_entry_rule_id')
    )
    op.create_table('violation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('judged_message_id', sa.Integer(), nullable=False),
    sa.Column('message_id', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('chat_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('member', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('rule_id', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('policy', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('verdict', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('matched', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
    sa.Column('span_start', sa.Integer(), nullable=True),
    sa.Column('span_end', sa.Integer(), nullable=True),
    sa.Column('evidence', sa.JSON(), nullable=True),
    sa.Column('text', sqlmodel.sql.sqltypes.AutoString(length=8000), nullable=True),
    sa.Column('mode', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('exempt', sa.Boolean(), nullable=False),
    sa.Column('offence', sa.Integer(), nullable=False),
    sa.Column('actions', sa.JSON(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_by', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolution_note', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
    sa.ForeignKeyConstraint(['judged_message_id'], ['judged_message.id'], name=op.f('fk_violation_judged_message_id_judged_message')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_violation')),
    sa.UniqueConstraint('judged_message_id', 'policy', name='uq_violation_judged_message_id')
    )
    with op.batch_alter_table('violation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_violation_chat_id'), ['chat_id'], unique=False)
        batch_op.create_index('ix_violation_member', ['member', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_violation_rule_id'), ['rule_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_violation_status'), ['status'], unique=False)

    op.create_table('strike',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('violation_id', sa.Integer(), nullable=False),
    sa.Column('member', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('category', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('rule_id', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('chat_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_by', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.Column('revoke_reason', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
    sa.ForeignKeyConstraint(['violation_id'], ['violation.id'], name=op.f('fk_strike_violation_id_violation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_strike')),
    sa.UniqueConstraint('violation_id', name=op.f('uq_strike_violation_id'))
    )
    with op.batch_alter_table('strike', schema=None) as batch_op:
        batch_op.create_index('ix_strike_member_category', ['member', 'category', 'expires_at'], unique=False)




def downgrade() -> None:
    
    with op.batch_alter_table('strike', schema=None) as batch_op:
        batch_op.drop_index('ix_strike_member_category')

    op.drop_table('strike')
    with op.batch_alter_table('violation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_violation_status'))
        batch_op.drop_index(batch_op.f('ix_violation_rule_id'))
        batch_op.drop_index('ix_violation_member')
        batch_op.drop_index(batch_op.f('ix_violation_chat_id'))

    op.drop_table('violation')
    op.drop_table('word_entry')
    op.drop_table('message_template')
    with op.batch_alter_table('judged_message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_judged_message_text_hash'))
        batch_op.drop_index('ix_judged_message_recent')

    op.drop_table('judged_message')

