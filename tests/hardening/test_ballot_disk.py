"""Ballots stay unlinkable on disk: after a session closes, neither the database files
(SQLite's main file, write-ahead log and shared memory; PostgreSQL's heap and index pages)
nor the order or transaction ids of the rows give the order in which deputies voted.

The attack this guards against: the receipt hashes in casting order (old log frames, dead
tuples) next to the voter records in voting order give back every deputy's ballot.

On SQLite the test votes into a database file of its own, so what it finds in the files is
what its sessions left (not other tests' rows) and no connection left open elsewhere in the run
can hold the log back. The files are copied by a separate process: a process that opens and
closes a database file it also holds SQLite connections to drops every POSIX lock those
connections hold on it (locks belong to the process and go with any close of the file), and
the next process to open the database then rebuilds its shared-memory index under them and
corrupts it.
"""

from __future__ import annotations

import itertools
import random
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from service.db import upgrade
from service.main import create_app
from surveys.voting.ballots import receipt_hash
from tests.conftest import settings_for
from tests.hardening.conftest import add_figure, backend_of
from tests.hardening.world import World, bearer_for, create_session, seed

DEPUTIES = 12  # a random order equals the casting order (or its reverse) with odds 2/12!
SESSIONS = 3
VOTE_TABLES = ("voting_ballot", "voting_ballot_mark", "voting_voter")


class Closed:
    """One closed session as the test saw it being cast."""

    def __init__(self, sid: int, hashes: list[str], user_ids: list[int], old_ids: list[str]):
        self.sid = sid
        self.hashes = hashes  # receipt hashes in casting order
        self.user_ids = user_ids  # voters in casting order
        self.old_ids = old_ids  # ballot ids before the closing reshuffle


def _user_ids(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT username, id FROM user_account"))
        return {name: int(uid) for name, uid in rows}


def _vote_and_close(
    client: TestClient, app: FastAPI, world: World, rnd: int, uids: dict[str, int]
) -> Closed:
    """Deputies vote one by one in a known order (different from their user ids'), then close."""
    engine = app.state.engine
    admin = world.tokens["admin"]
    sid = create_session(client, world, title=f"落盘测试{rnd}")
    assert client.post(f"/api/v1/voting-sessions/{sid}/open", headers=admin).status_code == 200
    order = list(world.deputies)
    random.Random(rnd).shuffle(order)
    patterns = list(itertools.product(("for", "against", "abstain"), repeat=len(world.project_ids)))
    random.Random(100 + rnd).shuffle(patterns)
    hashes: list[str] = []
    for name, pattern in zip(order, patterns, strict=False):  # a distinct ballot each
        choices = {str(p): m for p, m in zip(world.project_ids, pattern, strict=True)}
        r = client.post(
            f"/api/v1/voting-sessions/{sid}/ballots",
            json={"choices": choices},
            headers=bearer_for(engine, name),
        )
        assert r.status_code == 201, r.text
        hashes.append(receipt_hash(r.json()["receipt"]))
    with engine.connect() as conn:
        old_ids = [
            str(i)
            for (i,) in conn.execute(
                text("SELECT id FROM voting_ballot WHERE session_id = :s"), {"s": sid}
            )
        ]
    # The scrub runs after the response is sent; the test client returns once it has run.
    assert client.post(f"/api/v1/voting-sessions/{sid}/close", headers=admin).status_code == 200
    return Closed(sid, hashes, [uids[n] for n in order], old_ids)


def _replays(seen: list[Any], cast: list[Any], what: str) -> None:
    assert sorted(seen) == sorted(cast), what
    assert seen != cast, f"{what}: in the order deputies voted"
    assert seen != cast[::-1], f"{what}: in the reverse of the order deputies voted"


def _offsets(data: bytes, needle: bytes) -> list[int]:
    found, at = [], data.find(needle)
    while at != -1:
        found.append(at)
        at = data.find(needle, at + 1)
    return found


# ---------------------------------------------------------------------------------- SQLite


def _copy_sqlite_files(engine: Engine, dest: Path) -> dict[str, bytes]:
    """The main file, -wal and -shm as someone with a copy of the data directory has them.

    Copied by `cp`, never opened here: this process holds the app's connections to them (see
    the module's docstring). The copies are other files and are read here freely.
    """
    db = Path(str(engine.url.database))
    files = {}
    for suffix in ("", "-wal", "-shm"):
        src = db.with_name(db.name + suffix)
        if src.exists():
            subprocess.run(["cp", str(src), str(dest / src.name)], check=True)
            files[suffix or "db"] = (dest / src.name).read_bytes()
    return files


def _check_sqlite_files(files: dict[str, bytes], closed: Closed, copy: Path) -> None:
    for name, data in files.items():
        # A ballot row from before the close would carry its marks in casting order.
        left = sum(old.encode() in data for old in closed.old_ids)
        assert not left, f"{name}: {left} ballot rows from before the close are left"
        where = {h: _offsets(data, h.encode()) for h in closed.hashes}
        counts = {len(v) for v in where.values()}
        # Each hash as often as any other: a hash in more log frames was cast earlier.
        assert len(counts) == 1, f"{name}: receipt hashes occur {sorted(counts)} times"
        if counts == {0}:
            continue
        by_first = sorted(closed.hashes, key=lambda h: where[h][0])
        by_last = sorted(closed.hashes, key=lambda h: where[h][-1])
        _replays(by_first, closed.hashes, f"{name}: receipt hashes by first byte offset")
        _replays(by_last, closed.hashes, f"{name}: receipt hashes by last byte offset")
    conn = sqlite3.connect(copy)
    try:
        # VACUUM left no free page (where deleted rows would lie, zeroed or not).
        assert conn.execute("PRAGMA freelist_count").fetchone() == (0,), "free pages are left"
        voters = [
            int(u)
            for (u,) in conn.execute(
                "SELECT user_id FROM voting_voter WHERE session_id = ? ORDER BY rowid",
                (closed.sid,),
            )
        ]
        ballots = [
            str(h)
            for (h,) in conn.execute(
                "SELECT receipt_hash FROM voting_ballot WHERE session_id = ? ORDER BY rowid",
                (closed.sid,),
            )
        ]
    finally:
        conn.close()
    _replays(voters, closed.user_ids, "voter records by rowid")
    _replays(ballots, closed.hashes, "ballots by rowid")


# ------------------------------------------------------------------------------ PostgreSQL


def _has_pageinspect(conn: Connection) -> bool:
    try:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS pageinspect"))
    except Exception:  # contrib not installed or no superuser: the page checks are skipped
        conn.rollback()
        return False
    conn.commit()
    return True


def _relations(conn: Connection) -> list[str]:
    """The vote tables and their indexes."""
    rows = conn.execute(
        text(
            "SELECT c.relname FROM pg_class c WHERE c.relname = ANY(:t)"
            " UNION SELECT i.relname FROM pg_index x JOIN pg_class t ON t.oid = x.indrelid"
            " JOIN pg_class i ON i.oid = x.indexrelid WHERE t.relname = ANY(:t)"
        ),
        {"t": list(VOTE_TABLES)},
    )
    return [str(r[0]) for r in rows]


def _pages(conn: Connection, rel: str) -> bytes:
    blocks = conn.execute(
        text("SELECT pg_relation_size(CAST(:r AS regclass)) / current_setting('block_size')::int"),
        {"r": rel},
    ).scalar_one()
    return b"".join(
        bytes(
            conn.execute(
                text("SELECT get_raw_page(CAST(:r AS text), CAST(:b AS int))"), {"r": rel, "b": b}
            ).scalar_one()
        )
        for b in range(int(blocks))
    )


def _check_postgres(conn: Connection, closed: Closed, pageinspect: bool) -> None:
    s = {"s": closed.sid}
    xmins = set()
    for sql in (
        "SELECT xmin::text FROM voting_ballot WHERE session_id = :s",
        "SELECT m.xmin::text FROM voting_ballot_mark m JOIN voting_ballot b"
        " ON b.id = m.ballot_id WHERE b.session_id = :s",
        "SELECT xmin::text FROM voting_voter WHERE session_id = :s",
    ):
        xmins |= {str(r[0]) for r in conn.execute(text(sql), s)}
    # All written by the closing transaction: no row keeps its deputy's transaction id.
    assert len(xmins) == 1, f"the session's vote rows carry {len(xmins)} transaction ids"
    ballots = [
        str(r[0])
        for r in conn.execute(
            text("SELECT receipt_hash FROM voting_ballot WHERE session_id = :s ORDER BY ctid"), s
        )
    ]
    voters = [
        int(r[0])
        for r in conn.execute(
            text("SELECT user_id FROM voting_voter WHERE session_id = :s ORDER BY ctid"), s
        )
    ]
    _replays(ballots, closed.hashes, "ballots by ctid")
    _replays(voters, closed.user_ids, "voter records by ctid")
    if not pageinspect:
        return
    for table in VOTE_TABLES:
        live = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
        stored = conn.execute(
            text(
                "SELECT count(*) FROM generate_series(0, (pg_relation_size(CAST(:r AS regclass))"
                " / current_setting('block_size')::int) - 1) AS blk,"
                " heap_page_items(get_raw_page(CAST(:r AS text), blk::int)) AS item WHERE item.lp_flags = 1"
            ),
            {"r": table},
        ).scalar_one()
        # Dead tuples of deleted rows would keep their deputies' xmin and the casting order.
        assert stored == live, f"{table}: {stored - live} dead tuples left on its pages"
    for rel in _relations(conn):
        data = _pages(conn, rel)
        left = sum(old.encode() in data for old in closed.old_ids)
        assert not left, f"{rel}: {left} ballot ids from before the close are left"
    conn.rollback()


# ----------------------------------------------------------------------------------- test


@pytest.fixture
def vote_app(
    make_app: Callable[..., FastAPI], database_url: str, tmp_path: Path
) -> Iterator[FastAPI]:
    """The app on PostgreSQL's test database, or on an SQLite file of this test's own."""
    if not database_url.startswith("sqlite"):
        yield make_app()
        return
    url = f"sqlite:///{tmp_path / 'ballots.db'}"
    upgrade(url)
    app = create_app(settings_for(url, tmp_path))
    yield app
    app.state.engine.dispose()


def test_closed_sessions_leave_no_casting_order_on_disk(vote_app: FastAPI, tmp_path: Path) -> None:
    """Several sessions of 12 deputies voting in known orders with distinct ballots; after
    each close, every file and row order checked against every session closed so far."""
    app = vote_app
    engine: Engine = app.state.engine
    with TestClient(app) as client:
        world = seed(client, engine, responses=0, deputies=DEPUTIES)
        uids = _user_ids(engine)
        closed: list[Closed] = []
        for rnd in range(SESSIONS):
            closed.append(_vote_and_close(client, app, world, rnd, uids))
            if engine.dialect.name == "sqlite":
                copy = tmp_path / f"copy{rnd}"
                copy.mkdir()
                files = _copy_sqlite_files(engine, copy)
                for c in closed:
                    _check_sqlite_files(files, c, copy / Path(str(engine.url.database)).name)
            else:
                with engine.connect() as conn:
                    pageinspect = _has_pageinspect(conn)  # without it, rows are checked, not pages
                    for c in closed:
                        _check_postgres(conn, c, pageinspect)
        add_figure(
            "privacy: closed sessions checked on disk",
            SESSIONS,
            backend_of(str(engine.url)),
        )
