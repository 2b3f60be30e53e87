"""SQLite never reuses a deleted voting session's or assessment score's id (AUTOINCREMENT)

Without AUTOINCREMENT, SQLite gives the next row max(id) + 1, so after the newest row is
deleted the next insert takes its id again. A deleted draft session's id stays named in the
audit log ("voting_session.delete", sign-ins, seat cards, paper sheets) and on its printed
seat cards (/hall/{id}/card); a score's id is the handle of its DELETE route. Both tables are
recreated with AUTOINCREMENT, and the sequence starts above every id the audit log names, so
an id deleted before this migration is not handed out again either. PostgreSQL sequences
never reuse an id: nothing to do there.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 15:00:00.000000
"""

from alembic import op
from sqlalchemy import Connection, text

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

TABLES = ("voting_session", "assessment_score")
# Audit actions whose target is a voting session's id (surveys/voting/*.py).
SESSION_ACTIONS = ("voting_session.", "attendance.", "paper.", "seat_card.")


def _foreign_keys_off(conn: Connection) -> bool:
    """Recreating drops the old table: with foreign keys enforced, that DROP would cascade
    to every session's slate, electorate, ballots and cards. Returns whether to turn them
    back on afterwards."""
    if not conn.exec_driver_sql("PRAGMA foreign_keys").scalar():
        return False
    conn.exec_driver_sql("PRAGMA foreign_keys=OFF")  # a no-op inside a transaction
    if conn.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError("migration 0016 must run with PRAGMA foreign_keys=OFF on SQLite")
    return True


def _recreate(autoincrement: bool) -> None:
    conn = op.get_bind()
    restore = _foreign_keys_off(conn)
    for name in TABLES:
        with op.batch_alter_table(
            name, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
        ):
            pass
    if restore:
        conn.exec_driver_sql("PRAGMA foreign_keys=ON")


def _session_ids_in_audit(conn: Connection) -> int:
    where = " OR ".join(
        f"substr(action, 1, {len(p)}) = '{p}'" for p in SESSION_ACTIONS
    )
    return int(
        conn.execute(
            text(
                "SELECT COALESCE(MAX(CAST(target AS INTEGER)), 0) FROM audit_log"
                f" WHERE ({where}) AND target <> '' AND target NOT GLOB '*[^0-9]*'"
            )
        ).scalar()
        or 0
    )


def _raise_sequence(conn: Connection, name: str, floor: int) -> None:
    """The next id above both the largest id in the table and floor."""
    top = int(conn.execute(text(f"SELECT COALESCE(MAX(id), 0) FROM {name}")).scalar() or 0)
    seq = conn.execute(
        text("SELECT seq FROM sqlite_sequence WHERE name = :n"), {"n": name}
    ).scalar()
    value = max(top, floor, int(seq or 0))
    conn.execute(text("DELETE FROM sqlite_sequence WHERE name = :n"), {"n": name})
    if value:
        conn.execute(
            text("INSERT INTO sqlite_sequence (name, seq) VALUES (:n, :s)"),
            {"n": name, "s": value},
        )


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        return
    _recreate(True)
    _raise_sequence(conn, "voting_session", _session_ids_in_audit(conn))
    _raise_sequence(conn, "assessment_score", 0)


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        return
    _recreate(False)
    conn.execute(
        text("DELETE FROM sqlite_sequence WHERE name IN ('voting_session', 'assessment_score')")
    )
