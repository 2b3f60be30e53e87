"""Sufficient statistics kept in the same transaction as each stored response.

Contract between the response writer (surveys.forms) and analytics:
every code path that stores responses (the web writer, imports, demo generation) calls
``record_batch(conn, batch)`` inside the transaction that inserts them, after the INSERTs.
``batch`` is a list of dicts:
``{"response_id", "campaign_id", "unit_id", "area_unit_id", "age_band", "sex",
"submitted_hour", "flagged", "answers": {question_key: (value_num, value_text)}}``.
The analytics engineer owns the tables and the body of this module.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection


def record_batch(conn: Connection, batch: list[dict[str, Any]]) -> None:
    """Add a batch of just-inserted responses to the statistics (same transaction)."""
    return None
