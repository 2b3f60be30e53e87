"""After a close commits: overwrite the old copies of the rows the closing reshuffle replaced.

The reshuffle (``ballots.reshuffle_ballots`` and ``reshuffle_voters``) rewrites a session's
ballots and voter records in random order, but the database keeps the old rows for a while:
SQLite in its write-ahead log (every ballot's page, frame after frame, in casting order) and in
free pages, PostgreSQL as dead tuples carrying each deputy's own transaction id. Matching old
receipts with old voter records would give back every deputy's ballot. These commands cannot
run inside a transaction, so they run on their own connection right after the close commits.
"""

from __future__ import annotations

import logging

from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)

VOTE_TABLES = ("voting_ballot", "voting_ballot_mark", "voting_voter")


def scrub_ballot_storage(engine: Engine) -> None:
    """Rewrite the database's files so no deleted vote row (in casting order) is left in them."""
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        if conn.dialect.name == "sqlite":
            _scrub_sqlite(conn)
        else:
            _scrub_postgres(conn)


def scrub_quietly(engine: Engine) -> None:
    """The scrub as a background step: the close is already committed, so failure is logged."""
    try:
        scrub_ballot_storage(engine)
    except Exception:  # the response has gone out; the admin reruns `minyi voting scrub`
        log.exception("vote storage scrub failed: run `minyi voting scrub`")


def _scrub_sqlite(conn: Connection) -> None:
    # Overwrite freed cells and pages with zeros instead of leaving them in place.
    conn.exec_driver_sql("PRAGMA secure_delete=ON")
    # The log first (its frames hold every ballot page as it was after each vote), then the
    # file itself: VACUUM rebuilds it without free pages. VACUUM writes the whole database
    # through the log, so the log is emptied and truncated once more afterwards.
    _checkpoint(conn)
    conn.exec_driver_sql("VACUUM")
    _checkpoint(conn)


def _checkpoint(conn: Connection) -> None:
    row = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").first()
    if row is not None and row[0]:  # busy: a reader kept the log from being truncated
        log.warning("vote storage scrub: the write-ahead log is in use and was not truncated")


def _scrub_postgres(conn: Connection) -> None:
    # FULL writes the tables and their indexes into new files without dead tuples (the old
    # rows with their deputies' transaction ids), keeping the live rows in the shuffled order
    # and with the closing transaction's id. It locks the three tables for that short while.
    conn.exec_driver_sql("SET lock_timeout = '60s'")
    conn.exec_driver_sql("VACUUM (FULL, ANALYZE) " + ", ".join(VOTE_TABLES))
