"""SIGKILL mid-load: nothing acknowledged is lost, nothing unacknowledged is half-stored.

A real server process takes concurrent survey responses (each with its own submission_id)
and deputies' ballots; it is killed with SIGKILL partway and started again. Then every
acknowledged response, re-posted, answers with its original id (stored exactly once), every
acknowledged ballot's receipt is in the published ballot list, and the counts that must match
inside one transaction do: answers per response, statistics, voter records and ballots.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.hardening.conftest import add_figure, backend_of
from tests.hardening.server import ServerProcess, server_env
from tests.hardening.world import World, bearer_for, new_response, seed
from tests.surveys.forms.factories import campaign_body

RESPONSE_WORKERS = 8
BALLOT_WORKERS = 2
DEPUTIES = 60
ANSWERS_PER_RESPONSE = 7  # five ratings, recommend, channel (see response_body)


@dataclass
class Load:
    """What the clients sent and what the server acknowledged before it died."""

    acked: dict[str, tuple[dict[str, Any], int]] = field(default_factory=dict)
    unacked: dict[str, dict[str, Any]] = field(default_factory=dict)
    receipts: dict[str, str] = field(default_factory=dict)  # deputy -> receipt
    ballot_unacked: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)


def _respond(url: str, cid: int, load: Load) -> None:
    with httpx.Client(base_url=url, timeout=30) as c:
        while not load.stop.is_set():
            body = new_response(unit_code="dept-hrss")
            sid = body["submission_id"]
            try:
                r = c.post(f"/api/v1/campaigns/{cid}/responses", json=body)
            except httpx.HTTPError:
                with load.lock:
                    load.unacked[sid] = body
                return
            with load.lock:
                if r.status_code == 201:
                    load.acked[sid] = (body, r.json()["id"])
                else:
                    load.unacked[sid] = body


def _vote(url: str, world: World, queue: list[tuple[str, dict[str, str]]], load: Load) -> None:
    sid = world.voting_session_id
    choices = {
        str(p): ("for" if i % 2 == 0 else "against") for i, p in enumerate(world.project_ids)
    }
    with httpx.Client(base_url=url, timeout=30) as c:
        while not load.stop.is_set():
            with load.lock:
                if not queue:
                    return
                name, headers = queue.pop()
            try:
                r = c.post(
                    f"/api/v1/voting-sessions/{sid}/ballots",
                    json={"choices": choices},
                    headers=headers,
                )
            except httpx.HTTPError:
                with load.lock:
                    load.ballot_unacked.add(name)
                return
            with load.lock:
                if r.status_code == 201:
                    load.receipts[name] = r.json()["receipt"]
                else:
                    load.ballot_unacked.add(name)
            # Deputies trickle in (slower after half), so the kill lands mid-vote.
            time.sleep(0.03 if len(load.receipts) < DEPUTIES // 2 else 0.3)


def _until(cond: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.01)


def _scalar(engine: Engine, sql: str, **params: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql), params).scalar() or 0)


def _check_responses(engine: Engine, url: str, cid: int, load: Load) -> int:
    """Re-post every acknowledged response: the original id, nothing new. Returns checks made."""
    before = _scalar(engine, "SELECT count(*) FROM survey_response WHERE campaign_id = :c", c=cid)
    with httpx.Client(base_url=url, timeout=30) as c:
        for sid, (body, rid) in load.acked.items():
            r = c.post(f"/api/v1/campaigns/{cid}/responses", json=body)
            assert r.status_code == 201, r.text
            assert r.json()["id"] == rid, f"submission {sid}: id {r.json()['id']} != {rid}"
            assert r.headers.get("idempotent-replayed") == "true"
    after = _scalar(engine, "SELECT count(*) FROM survey_response WHERE campaign_id = :c", c=cid)
    assert after == before, "re-posting acknowledged responses stored something new"
    # What was in flight at the kill: stored once at most; a retry settles it either way.
    with httpx.Client(base_url=url, timeout=30) as c:
        for body in load.unacked.values():
            r = c.post(f"/api/v1/campaigns/{cid}/responses", json=body)
            assert r.status_code == 201, r.text
    return len(load.acked)


def _check_consistency(engine: Engine, cid: int, expected: int) -> None:
    """No response without all its answers, no answer without its response, stats agree."""
    n = _scalar(engine, "SELECT count(*) FROM survey_response WHERE campaign_id = :c", c=cid)
    assert n == expected, (n, expected)
    bad = _scalar(
        engine,
        """SELECT count(*) FROM survey_response r WHERE r.campaign_id = :c AND
           (SELECT count(*) FROM response_answer a WHERE a.response_id = r.id) != :k""",
        c=cid,
        k=ANSWERS_PER_RESPONSE,
    )
    assert bad == 0, f"{bad} responses without all their answers"
    orphans = _scalar(
        engine,
        """SELECT count(*) FROM response_answer a
           LEFT JOIN survey_response r ON r.id = a.response_id WHERE r.id IS NULL""",
    )
    assert orphans == 0
    counted = _scalar(
        engine,
        "SELECT coalesce(sum(n), 0) FROM stat_unit WHERE campaign_id = :c AND question_key = '*'",
        c=cid,
    )
    assert counted == n, f"statistics count {counted} responses, the table has {n}"


def _check_ballots(engine: Engine, url: str, world: World, load: Load) -> int:
    sid = world.voting_session_id
    voters = _scalar(engine, "SELECT count(*) FROM voting_voter WHERE session_id = :s", s=sid)
    ballots = _scalar(engine, "SELECT count(*) FROM voting_ballot WHERE session_id = :s", s=sid)
    assert voters == ballots, f"{voters} voter records but {ballots} ballots"
    assert ballots >= len(load.receipts)
    partial = _scalar(
        engine,
        """SELECT count(*) FROM voting_ballot b WHERE b.session_id = :s AND
           (SELECT count(*) FROM voting_ballot_mark m WHERE m.ballot_id = b.id) != :k""",
        s=sid,
        k=len(world.project_ids),
    )
    assert partial == 0, f"{partial} ballots without all their marks"
    admin = world.tokens["admin"]
    choices = {str(p): "abstain" for p in world.project_ids}
    with httpx.Client(base_url=url, timeout=30) as c:
        # Acknowledged deputies cannot vote again; the rest vote now (or had, unacknowledged).
        for name in world.deputies:
            r = c.post(
                f"/api/v1/voting-sessions/{sid}/ballots",
                json={"choices": choices},
                headers=world.extra_tokens[name],
            )
            if name in load.receipts:
                assert r.status_code == 409, (name, r.status_code, r.text)
            else:
                assert r.status_code in (201, 409), (name, r.status_code, r.text)
        assert c.post(f"/api/v1/voting-sessions/{sid}/close", headers=admin).status_code == 200
        assert c.post(f"/api/v1/voting-sessions/{sid}/publish", headers=admin).status_code == 200
        public = c.get(f"/api/v1/voting-sessions/{sid}/ballots")
        assert public.status_code == 200, public.text
    from surveys.voting.ballots import receipt_hash

    listed = {b["receipt_hash"] for b in public.json()}
    missing = [n for n, rcpt in load.receipts.items() if receipt_hash(rcpt) not in listed]
    assert not missing, f"acknowledged ballots missing after the crash: {missing}"
    assert len(public.json()) == len(world.deputies)
    voters = _scalar(engine, "SELECT count(*) FROM voting_voter WHERE session_id = :s", s=sid)
    assert voters == len(world.deputies)
    return len(load.receipts)


@pytest.mark.slow
def test_sigkill_mid_load_loses_nothing_acknowledged(
    make_app: Callable[..., FastAPI], database_url: str, tmp_path: Path
) -> None:
    backend = backend_of(database_url)
    engine = make_app().state.engine  # teardown wipes the database
    server = ServerProcess(database_url, tmp_path)
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            world = seed(c, engine, deputies=DEPUTIES)
        assert world.voting, "the voting API is needed for the ballot half of this test"
        world.extra_tokens = {n: bearer_for(engine, n) for n in world.deputies}
        cid = world.campaign_id
        load = Load()
        queue = list(world.extra_tokens.items())
        threads = [
            threading.Thread(target=_respond, args=(server.url, cid, load))
            for _ in range(RESPONSE_WORKERS)
        ] + [
            threading.Thread(target=_vote, args=(server.url, world, queue, load))
            for _ in range(BALLOT_WORKERS)
        ]
        for t in threads:
            t.start()
        _until(lambda: len(load.acked) >= 150 and len(load.receipts) >= DEPUTIES // 3, 60)
        server.kill()
        load.stop.set()
        for t in threads:
            t.join(60)
        assert load.acked and load.receipts, "the server died before acknowledging anything"
        assert len(load.receipts) < DEPUTIES, "the kill came after the vote had finished"

        server.start()
        checked = _check_responses(engine, server.url, cid, load)
        seeded = 12
        _check_consistency(engine, cid, seeded + len(load.acked) + len(load.unacked))
        checked_ballots = _check_ballots(engine, server.url, world, load)
    finally:
        server.stop()
    add_figure("crash: acknowledged responses checked after SIGKILL", checked, backend)
    add_figure("crash: acknowledged ballots checked after SIGKILL", checked_ballots, backend)
    add_figure("crash: in-flight requests at the kill", len(load.unacked), backend)


IMPORT_ROWS = 6000


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from service.cli import main; main()", *args]


def _watch_progress(proc: subprocess.Popen[bytes]) -> threading.Event:
    """Set when the CLI's progress line shows some but not all rows done."""
    midway = threading.Event()

    def _read() -> None:
        assert proc.stderr is not None
        buf = b""
        while chunk := proc.stderr.read1(4096):  # type: ignore[attr-defined]
            buf = (buf + chunk)[-4096:]
            for m in re.finditer(rb"([\d,]+)/([\d,]+) \(", buf):
                done, total = (int(g.replace(b",", b"")) for g in m.groups())
                if 0 < done < total:
                    midway.set()

    threading.Thread(target=_read, daemon=True).start()
    return midway


def _has_import_command() -> bool:
    from service.cli import main

    group = main.commands.get("responses")
    return group is not None and "import" in getattr(group, "commands", {})


@pytest.mark.slow
def test_responses_import_killed_halfway_is_all_or_nothing(
    make_app: Callable[..., FastAPI], database_url: str, tmp_path: Path
) -> None:
    if not _has_import_command():
        pytest.skip("`minyi responses import` is not there yet (issue 3)")
    backend = backend_of(database_url)
    app = make_app()
    engine = app.state.engine
    with TestClient(app) as c:
        world = seed(c, engine, responses=0)
        survey = world.survey_id
        admin = world.tokens["admin"]
        # Two campaigns: one to time a whole import, one to kill an import into (and retry).
        cids = [
            c.post(
                "/api/v1/campaigns", json=campaign_body(survey, title=f"导入{i}"), headers=admin
            ).json()["id"]
            for i in range(2)
        ]
    rows = [new_response(unit_code="dept-civil") for _ in range(IMPORT_ROWS)]
    for row in rows:
        row.pop("submission_id")
    file = tmp_path / "responses.json"
    file.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    env = server_env(database_url, tmp_path)

    def count(cid: int) -> int:
        return _scalar(engine, "SELECT count(*) FROM survey_response WHERE campaign_id = :c", c=cid)

    started = time.monotonic()
    done = subprocess.run(
        _cli("responses", "import", str(cids[0]), str(file)), env=env, capture_output=True
    )
    full = time.monotonic() - started
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert count(cids[0]) == IMPORT_ROWS

    proc = subprocess.Popen(
        _cli("responses", "import", str(cids[1]), str(file)),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    midway = _watch_progress(proc)
    # Kill when the progress line shows part of the rows done (or, with no progress shown,
    # at half the time a whole import took).
    midway.wait(timeout=full / 2)
    killed = proc.poll() is None
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    assert killed, "the import finished before it could be killed"
    assert count(cids[1]) == 0, "a killed import left part of its rows"
    _check_consistency(engine, cids[0], IMPORT_ROWS)
    again = subprocess.run(
        _cli("responses", "import", str(cids[1]), str(file)), env=env, capture_output=True
    )
    assert again.returncode == 0, again.stderr.decode()[-2000:]
    _check_consistency(engine, cids[1], IMPORT_ROWS)
    add_figure("crash: rows of an import killed halfway (all absent)", IMPORT_ROWS, backend)
