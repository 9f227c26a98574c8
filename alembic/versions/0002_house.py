"""house for three domains: named unique constraints, admin rulings on unknown actions, no stored record

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 19:00:00

Migrations never import the application: a module they import could move or change later.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column): 0001 left these unique constraints unnamed; name them by the convention in
# app/models/base.py so later migrations can address them on every database.
_UNIQUE = [("action", "idempotency_key"), ("admin_token", "token_hash"),
           ("inbound_event", "dedupe_key"), ("job", "key")]


def _rename_unique_constraints() -> None:
    """Databases made by 0001 before the convention have PostgreSQL's own names; newer ones
    (0001 runs under the convention too) already have ours. SQLite keeps unnamed ones: it
    cannot address a constraint by name anyway (batch mode copies the table). Primary keys
    too: `action_pkey` becomes `pk_action`."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    inspector = sa.inspect(bind)
    for table, column in _UNIQUE:
        for uq in inspector.get_unique_constraints(table):
            wanted = f"uq_{table}_{column}"
            if uq["column_names"] == [column] and uq["name"] != wanted:
                op.execute(f'ALTER TABLE "{table}" RENAME CONSTRAINT "{uq["name"]}" TO "{wanted}"')
        pk = inspector.get_pk_constraint(table).get("name")
        if pk and pk != f"pk_{table}":
            op.execute(f'ALTER TABLE "{table}" RENAME CONSTRAINT "{pk}" TO "pk_{table}"')


def upgrade() -> None:
    _rename_unique_constraints()
    with op.batch_alter_table("action") as batch_op:
        batch_op.add_column(sa.Column("resolved_by", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("resolution_note", sa.String(length=2000), nullable=True))
    # The normalised record was written and never read; the payload is the one source of truth.
    with op.batch_alter_table("inbound_event") as batch_op:
        batch_op.drop_column("record")


def downgrade() -> None:
    with op.batch_alter_table("inbound_event") as batch_op:
        batch_op.add_column(sa.Column("record", sa.JSON(), nullable=True))
    with op.batch_alter_table("action") as batch_op:
        batch_op.drop_column("resolution_note")
        batch_op.drop_column("resolved_at")
        batch_op.drop_column("resolved_by")
    # Constraint names stay as the convention has them: 0001 under the convention makes the same.
