"""groups registry: groups, rosters and their changes, policy versions

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 10:00:00

Migrations never import the application: a module they import could move or change later.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, *, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "chat_group",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("purpose", sa.String(length=2000), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("admins", sa.JSON(), nullable=True),
        sa.Column("wecom_admins", sa.JSON(), nullable=True),
        sa.Column("notice_authors", sa.JSON(), nullable=True),
        sa.Column("exempt", sa.JSON(), nullable=True),
        sa.Column("robot_key", sa.String(length=255), nullable=True),
        sa.Column("archive_room_id", sa.String(length=128), nullable=False),
        sa.Column("policy_version", sa.Integer(), nullable=True),
        _ts("registered_at", nullable=False),
        sa.Column("registered_by", sa.String(length=128), nullable=False),
        _ts("updated_at", nullable=True),
        sa.Column("updated_by", sa.String(length=128), nullable=True),
        _ts("roster_synced_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_chat_group"),
        sa.UniqueConstraint("chat_id", name="uq_chat_group_chat_id"),
        sa.UniqueConstraint("archive_room_id", name="uq_chat_group_archive_room_id"),
    )
    op.create_table(
        "group_member",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.String(length=128), nullable=False),
        sa.Column("userid", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        _ts("joined_at", nullable=True),
        sa.Column("join_scene", sa.Integer(), nullable=True),
        sa.Column("invited_by", sa.String(length=128), nullable=True),
        sa.Column("display_name", sa.String(length=200), nullable=True),
        sa.Column("present", sa.Boolean(), nullable=False),
        _ts("left_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_group_member"),
        sa.UniqueConstraint("chat_id", "userid", name="uq_group_member_chat_id"),
    )
    op.create_table(
        "roster_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.String(length=128), nullable=False),
        sa.Column("userid", sa.String(length=128), nullable=False),
        sa.Column("change", sa.String(length=16), nullable=False),
        _ts("at", nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_roster_change"),
    )
    op.create_index("ix_roster_change_chat_id", "roster_change", ["chat_id"])
    op.create_table(
        "policy_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=True),
        sa.Column("author", sa.String(length=128), nullable=False),
        _ts("created_at", nullable=False),
        sa.Column("rolled_back_from", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_policy_version"),
        sa.UniqueConstraint("chat_id", "version", name="uq_policy_version_chat_id"),
    )


def downgrade() -> None:
    op.drop_table("policy_version")
    op.drop_index("ix_roster_change_chat_id", table_name="roster_change")
    op.drop_table("roster_change")
    op.drop_table("group_member")
    op.drop_table("chat_group")
