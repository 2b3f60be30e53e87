"""One batch of the writer: abuse counters read and written with the batch, its statements."""

from __future__ import annotations

import tempfile
import uuid
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select, update
from sqlalchemy.exc import OperationalError

from service.db import utcnow
from surveys.forms import stats, store_pg
from surveys.forms.abuse import BURST_MAX, BURST_WINDOW
from surveys.forms.models import ABUSE_MARK_TABLE, RESPONSE_TABLE
from surveys.forms.store import Pending, Stored, store_batch, store_now
from surveys.forms.writer import _Link
from tests.surveys.forms.fixtures import World


def _pending(world: World, **kw: Any) -> Pending:
    values: dict[str, Any] = {
        "campaign_id": world.campaign_id,
        "survey_id": world.survey_id,
        "unit_id": 5,
        "answers": [("attitude", 4.0, None), ("efficiency", 3.0, None)],
        "submission_key": uuid.uuid4().hex,
    }
    values.update(kw)
    return Pending(**values)


def _flags(engine: Any, out: list[Any]) -> list[str]:
    ids = [o.id for o in out]
    with engine.connect() as conn:
        got = dict(
            conn.execute(
                select(RESPONSE_TABLE.c.id, RESPONSE_TABLE.c.flags).where(
                    RESPONSE_TABLE.c.id.in_(ids)
                )
            ).all()
        )
    return [got[i] for i in ids]


def _mark(engine: Any, world: World, kind: str, key: str) -> tuple[int, int]:
    t = ABUSE_MARK_TABLE
    with engine.connect() as conn:
        row = conn.execute(
            select(t.c.window_count, t.c.total_count)
            .where(t.c.campaign_id == world.campaign_id)
            .where(t.c.kind == kind)
            .where(t.c.key_hash == key)
        ).one()
    return int(row[0]), int(row[1])


def test_counters_within_a_batch_and_across_batches(client: TestClient, world: World) -> None:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    comment = "c" * 64
    items = [_pending(world, client_hash="k1") for _ in range(BURST_MAX)]
    first = store_now(engine, [*items, _pending(world, client_hash="k2", comment_hash=comment)])
    assert all(isinstance(o, Stored) and o.created for o in first)
    assert _flags(engine, first) == [""] * (BURST_MAX + 1)
    assert _mark(engine, world, "client", "k1") == (BURST_MAX, BURST_MAX)
    # The next batch reads the counters the first one wrote: one more from k1 is a burst, the
    # same comment again a duplicate, and a retry of the first batch counts nothing.
    retry = _pending(world, client_hash="k1", submission_key=items[0].submission_key)
    second = store_now(
        engine,
        [
            _pending(world, client_hash="k1"),
            _pending(world, client_hash="k3", comment_hash=comment),
            retry,
        ],
    )
    assert second[2] == Stored(first[0].id, False)
    assert _flags(engine, second[:2]) == ["burst", "duplicate_comment"]
    assert _mark(engine, world, "client", "k1") == (BURST_MAX + 1, BURST_MAX + 1)
    assert _mark(engine, world, "comment", comment) == (2, 2)
    # Past the burst window the window count starts again; the total goes on.
    with engine.begin() as conn:
        conn.execute(
            update(ABUSE_MARK_TABLE)
            .where(ABUSE_MARK_TABLE.c.key_hash == "k1")
            .values(window_start_at=utcnow() - BURST_WINDOW - timedelta(seconds=1))
        )
    third = store_now(engine, [_pending(world, client_hash="k1")])
    assert _flags(engine, third) == [""]
    assert _mark(engine, world, "client", "k1") == (1, BURST_MAX + 2)


def test_a_batch_on_postgresql_is_three_statements(client: TestClient, world: World) -> None:
    """The reads in one statement, the writes in one, the statistics in one: SQLAlchemy sees
    the read; the write and the statistics go out together in one psycopg pipeline."""
    engine = client.app.state.engine  # type: ignore[attr-defined]
    if engine.dialect.name != "postgresql":
        return
    seen: list[str] = []
    sent: list[str] = []

    def count(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        seen.append(sql.split()[0] + " " + sql.split()[1])

    def later(conn: Any, batch: Any) -> None:
        assert isinstance(conn, store_pg.Later)
        record(conn, batch)
        sent.extend(sql.split()[0] + " " + sql.split()[1] for sql, _ in conn.statements)

    record = stats.record_batch

    store_now(engine, [_pending(world, client_hash="warm")])  # statements built, units cached
    event.listen(engine, "before_cursor_execute", count)
    try:
        with pytest.MonkeyPatch.context() as m:
            m.setattr(stats, "record_batch", later)
            out = store_now(
                engine,
                [_pending(world, client_hash=f"k{i}", comment_hash="d" * 64) for i in range(5)],
            )
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert all(isinstance(o, Stored) and o.created for o in out)
    assert seen == ["SELECT 0,"] and sent == ["WITH u"]
    assert _flags(engine, out) == [""] + ["duplicate_comment"] * 4


def test_the_writers_link_sends_begin_with_the_first_statement(
    client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: two round trips a batch (BEGIN with the read; the write, the statistics and
    COMMIT in one pipeline), and the batch is still one transaction."""
    engine = client.app.state.engine  # type: ignore[attr-defined]
    if engine.dialect.name != "postgresql":
        return
    from psycopg import pq

    link = _Link(engine, 100)
    try:
        store_now(link.transaction, [_pending(world, client_hash="warm")])
        assert link._conn is not None
        pgconn = link._conn.connection.dbapi_connection.pgconn  # type: ignore[union-attr]
        with tempfile.TemporaryFile("w+") as f:
            pgconn.trace(f.fileno())
            pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
            out = store_now(link.transaction, [_pending(world, client_hash="k1")])
            pgconn.untrace()
            f.seek(0)
            trace = f.read()
        assert isinstance(out[0], Stored) and out[0].created
        assert trace.count("ReadyForQuery") == 2 and trace.count('Query\t "BEGIN"') == 0
        assert trace.count('"COMMIT"') == 2  # sent in the pipeline, answered
        assert pgconn.transaction_status == pq.TransactionStatus.IDLE

        def broken(conn: Any, batch: Any) -> None:
            raise OperationalError("INSERT", {}, Exception("disk I/O error"))

        monkeypatch.setattr(stats, "record_batch", broken)
        before = _count(engine, world)
        with pytest.raises(OperationalError), link.transaction() as conn:
            store_batch(conn, [_pending(world, client_hash="k2")])
        assert _count(engine, world) == before
        assert pgconn.transaction_status == pq.TransactionStatus.IDLE
    finally:
        link.close()


def _count(engine: Any, world: World) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(RESPONSE_TABLE)
                .where(RESPONSE_TABLE.c.campaign_id == world.campaign_id)
            ).scalar_one()
        )
