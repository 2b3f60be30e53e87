"""The group-commit writer: batch outcomes, exactly-once under races, statistics contract."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session

from service.db import utcnow
from service.errors import Conflict, Gone, Invalid
from service.models import Role
from surveys.forms import abuse, stats, store_pg
from surveys.forms.models import Invitation, SurveyResponse
from surveys.forms.store import Pending, Stored, store_now
from tests.conftest import SECRETS, TEST_SECRET_KEY, _free_port
from tests.factories import headers_for
from tests.surveys.forms.factories import (
    count_responses as _count,
)
from tests.surveys.forms.factories import (
    create_campaign,
    create_survey,
    make_units,
    response_body,
    stored_id,
)
from tests.surveys.forms.fixtures import World


def _pending(cid: int, survey_id: int, **kw: Any) -> Pending:
    values: dict[str, Any] = {
        "campaign_id": cid,
        "survey_id": survey_id,
        "unit_id": 5,
        "answers": [("attitude", 4.0, None), ("efficiency", 3.0, None)],
        "submission_key": uuid.uuid4().hex,
    }
    values.update(kw)
    return Pending(**values)


def test_one_batch_mixed_outcomes(client: TestClient, session: Session, world: World) -> None:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    inv = create_campaign(client, world.admin, world.survey_id, access="invitation")
    code = client.post(
        f"/api/v1/campaigns/{inv}/invitations", json={"count": 1}, headers=world.admin
    ).json()["codes"][0]
    SECRETS.add(code)
    h = abuse.code_hash(TEST_SECRET_KEY, code)
    now = utcnow()
    closed = create_campaign(
        client,
        world.admin,
        world.survey_id,
        opens_at=(now - timedelta(days=2)).isoformat(),
        closes_at=(now - timedelta(days=1)).isoformat(),
    )
    stored_before = store_now(
        engine, [_pending(world.campaign_id, world.survey_id, submission_key="k-old")]
    )[0]
    assert isinstance(stored_before, Stored) and stored_before.created
    items = [
        _pending(inv, world.survey_id, code_hash=h, submission_key="k-a"),  # stored
        _pending(inv, world.survey_id, code_hash=h, submission_key="k-b"),  # same code: 409
        _pending(
            inv, world.survey_id, code_hash=h, submission_key="k-a"
        ),  # same submission: as k-a
        _pending(world.campaign_id, world.survey_id, submission_key="k-old"),  # a replay
        _pending(closed, world.survey_id),  # closed: 410
        _pending(inv, world.survey_id, code_hash="f" * 64),  # unknown code: 422
        _pending(world.campaign_id, world.survey_id),  # stored
    ]
    out = store_now(engine, items)
    assert isinstance(out[0], Stored) and out[0].created
    assert isinstance(out[1], Conflict)
    assert out[2] == Stored(out[0].id, False)  # type: ignore[union-attr]
    assert out[3] == Stored(stored_before.id, False)
    assert isinstance(out[4], Gone)
    assert isinstance(out[5], Invalid)
    assert isinstance(out[6], Stored) and out[6].created
    assert (
        _count(engine, inv) == 1
        and _count(engine, closed) == 0
        and _count(engine, world.campaign_id) == 2
    )


def test_statistics_are_recorded_in_the_same_transaction(
    client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[dict[str, Any]] = []

    def record(conn: Any, batch: list[dict[str, Any]]) -> None:
        if isinstance(conn, store_pg.Later):
            # PostgreSQL: the statements are recorded here and sent after the INSERTs, with
            # the COMMIT, in the write's pipeline (store_pg.write).
            seen.extend(batch)
            return
        # The rows are visible here: same transaction, before the commit.
        ids = [b["response_id"] for b in batch]
        n = conn.execute(
            select(func.count()).select_from(SurveyResponse).where(SurveyResponse.id.in_(ids))
        ).scalar_one()  # type: ignore[attr-defined, arg-type]
        assert n == len(ids)
        seen.extend(batch)

    monkeypatch.setattr(stats, "record_batch", record)
    body = response_body()
    public = client.post(f"/api/v1/campaigns/{world.campaign_id}/responses", json=body).json()
    rid = stored_id(client, public["id"])
    client.post(
        f"/api/v1/campaigns/{world.campaign_id}/responses", json=body
    )  # a replay: not counted
    assert len(seen) == 1
    b = seen[0]
    assert set(b) == {
        "response_id",
        "campaign_id",
        "unit_id",
        "area_unit_id",
        "age_band",
        "sex",
        "submitted_hour",
        "flagged",
        "answers",
    }
    assert b["response_id"] == rid and b["campaign_id"] == world.campaign_id
    assert b["answers"]["attitude"] == (5.0, None) and b["answers"]["channel"] == (None, "hall")
    assert b["submitted_hour"].minute == 0 and b["age_band"] == "30-39"


def test_nothing_is_acknowledged_when_the_commit_fails(
    client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(conn: Any, batch: Any) -> None:
        raise OperationalError("INSERT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(stats, "record_batch", broken)
    body = response_body()
    r = client.post(f"/api/v1/campaigns/{world.campaign_id}/responses", json=body)
    assert r.status_code == 503 and r.headers["retry-after"] == "1"
    engine = client.app.state.engine  # type: ignore[attr-defined]
    assert _count(engine, world.campaign_id) == 0
    monkeypatch.undo()
    r = client.post(f"/api/v1/campaigns/{world.campaign_id}/responses", json=body)
    assert r.status_code == 201 and _count(engine, world.campaign_id) == 1


def test_a_constraint_hit_falls_back_to_one_by_one(
    client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"n": 0}
    real = stats.record_batch

    def once(conn: Any, batch: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise IntegrityError("INSERT", {}, Exception("duplicate key"))
        real(conn, batch)

    monkeypatch.setattr(stats, "record_batch", once)
    engine = client.app.state.engine  # type: ignore[attr-defined]
    items = [_pending(world.campaign_id, world.survey_id) for _ in range(3)]
    out = store_now(engine, items)
    assert all(isinstance(o, Stored) and o.created for o in out)
    assert calls["n"] == 4 and _count(engine, world.campaign_id) == 3


# ------------------------------------------------------------------ two servers, one database


@pytest.fixture
def two_servers(make_app: Callable[..., FastAPI]) -> Iterator[tuple[list[str], FastAPI]]:
    """Two apps (two writers, two connection pools) on one database, like two processes.

    Keep-alive is long: on a busy machine a pooled client connection can sit idle for more
    than uvicorn's default 5 s, and a POST sent as the server closes it fails in the client.
    """
    import uvicorn

    apps = [make_app(), make_app()]
    servers, threads, urls = [], [], []
    for app in apps:
        port = _free_port()
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=port,
                log_level="warning",
                backlog=2048,
                timeout_keep_alive=120,
            )
        )
        t = threading.Thread(target=server.run, daemon=True)
        t.start()
        servers.append(server)
        threads.append(t)
        urls.append(f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 15
    while not all(s.started for s in servers):
        assert time.monotonic() < deadline, "servers did not start"
        time.sleep(0.05)
    yield urls, apps[0]
    for s in servers:
        s.should_exit = True
    for t in threads:
        t.join(timeout=15)


async def _fire(urls: list[str], path: str, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=200)
    async with (
        httpx.AsyncClient(limits=limits, timeout=60) as a,
        httpx.AsyncClient(limits=limits, timeout=60) as b,
    ):
        clients = [a, b]
        return await asyncio.gather(
            *(clients[i % 2].post(urls[i % 2] + path, json=body) for i, body in enumerate(bodies))
        )


@pytest.mark.slow
def test_1000_concurrent_replays_of_one_code_store_exactly_one(
    two_servers: tuple[list[str], FastAPI],
) -> None:
    urls, app = two_servers
    with TestClient(app) as client, Session(app.state.engine) as session:
        make_units(session)
        admin = headers_for(client, session, Role.admin)
        cid = create_campaign(client, admin, create_survey(client, admin), access="invitation")
        code = client.post(
            f"/api/v1/campaigns/{cid}/invitations", json={"count": 2}, headers=admin
        ).json()["codes"][0]
    SECRETS.add(code)
    path = f"/api/v1/campaigns/{cid}/responses"
    # 1,000 different submissions with one code: one wins, 999 get 409.
    bodies = [response_body(invitation_code=code) for _ in range(1000)]
    statuses = [r.status_code for r in asyncio.run(_fire(urls, path, bodies))]
    assert statuses.count(201) == 1 and statuses.count(409) == 999, sorted(set(statuses))
    engine = app.state.engine
    assert _count(engine, cid) == 1
    with engine.connect() as conn:
        used = conn.execute(
            text("SELECT count(*) FROM invitation WHERE used = :t AND campaign_id = :c"),
            {"t": True, "c": cid},
        ).scalar_one()
    assert used == 1


@pytest.mark.slow
def test_1000_concurrent_retries_of_one_submission_store_one(
    two_servers: tuple[list[str], FastAPI],
) -> None:
    urls, app = two_servers
    with TestClient(app) as client, Session(app.state.engine) as session:
        make_units(session)
        admin = headers_for(client, session, Role.admin)
        cid = create_campaign(client, admin, create_survey(client, admin), access="invitation")
        code = client.post(
            f"/api/v1/campaigns/{cid}/invitations", json={"count": 1}, headers=admin
        ).json()["codes"][0]
    SECRETS.add(code)
    body = response_body(invitation_code=code)
    responses = asyncio.run(_fire(urls, f"/api/v1/campaigns/{cid}/responses", [body] * 1000))
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert _count(app.state.engine, cid) == 1
    with Session(app.state.engine) as s:
        assert [
            i.used
            for i in s.exec(select(Invitation).where(Invitation.campaign_id == cid)).scalars()
        ] == [True]  # type: ignore[call-overload]


def test_a_lock_held_elsewhere_moves_the_batch_off_the_event_loop(
    client: TestClient, world: World
) -> None:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    locked = threading.Event()
    release = threading.Event()

    def hold_lock() -> None:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                conn.begin()
                conn.execute(
                    text("SELECT id FROM survey WHERE id = :i FOR UPDATE"), {"i": world.survey_id}
                )
            locked.set()
            release.wait(10)
            conn.rollback()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    assert locked.wait(10)
    result: dict[str, Any] = {}

    def post() -> None:
        started = time.monotonic()
        r = client.post(f"/api/v1/campaigns/{world.campaign_id}/responses", json=response_body())
        result.update(status=r.status_code, seconds=time.monotonic() - started)

    poster = threading.Thread(target=post)
    poster.start()
    time.sleep(0.5)
    # While the response waits for the lock, the server still answers other requests.
    started = time.monotonic()
    assert client.get(f"/api/v1/campaigns/{world.campaign_id}/form").status_code == 200
    assert time.monotonic() - started < 0.5
    assert poster.is_alive()
    release.set()
    poster.join(15)
    holder.join(15)
    assert result["status"] == 201 and result["seconds"] >= 0.5
    assert _count(engine, world.campaign_id) == 1
