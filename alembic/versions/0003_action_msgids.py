"""every msgid an action delivered

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("action") as batch_op:
        batch_op.add_column(sa.Column("wecom_msgids", sa.JSON(), nullable=True))
    # Actions done before this revision delivered at most the one msgid they recorded.
    op.execute("UPDATE action SET wecom_msgids = json_build_array(wecom_msgid) "
               "WHERE wecom_msgid IS NOT NULL" if op.get_bind().dialect.name == "postgresql" else
               "UPDATE action SET wecom_msgids = json_array(wecom_msgid) "
               "WHERE wecom_msgid IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("action") as batch_op:
        batch_op.drop_column("wecom_msgids")
