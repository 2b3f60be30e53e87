"""Closed campaigns' abuse data: reading never deletes it; the app's purge job does."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlmodel import Session, col, select

from service.audit import AuditEntry
from service.db import utcnow
from service.models import Role
from surveys.forms.models import AbuseMark, Campaign
from surveys.forms.purge_job import JOB_ACTOR, purge_step
from surveys.forms.service import purge_and_record
from tests.factories import headers_for
from tests.surveys.forms.factories import create_campaign, create_survey, make_units, response_body
from tests.surveys.forms.fixtures import World


@pytest.fixture
def app(make_app: Callable[..., FastAPI]) -> FastAPI:
    return make_app(purge_interval=0)  # no job: only what the requests do is seen


def _close(session: Session, campaign_id: int) -> None:
    c = session.get(Campaign, campaign_id)
    assert c is not None
    c.closes_at = utcnow() - timedelta(seconds=1)
    session.add(c)
    session.commit()


def _marks(session: Session, campaign_id: int) -> int:
    session.expire_all()
    rows = session.exec(select(AbuseMark).where(AbuseMark.campaign_id == campaign_id)).all()
    return len(rows)


def _purged(session: Session, campaign_id: int) -> bool:
    session.expire_all()
    c = session.get(Campaign, campaign_id)
    return c is not None and c.purged_at is not None


def _purge_entries(session: Session) -> list[tuple[str, str]]:
    q = select(AuditEntry.actor, AuditEntry.target).where(AuditEntry.action == "campaign.purge")
    return [(a, t) for a, t in session.exec(q.order_by(col(AuditEntry.id))).all()]


def test_reading_a_closed_campaign_writes_nothing(
    app: FastAPI, client: TestClient, session: Session, world: World
) -> None:
    cid = world.campaign_id
    assert (
        client.post(f"/api/v1/campaigns/{cid}/responses", json=response_body()).status_code == 201
    )
    evaluator = headers_for(client, session, Role.evaluator)
    _close(session, cid)
    assert _marks(session, cid) == 2
    statements: list[str] = []

    def spy(_conn: Any, _cursor: Any, statement: str, *_a: Any) -> None:
        statements.append(statement.lstrip().split(None, 1)[0].upper())

    event.listen(app.state.engine, "before_cursor_execute", spy)
    try:
        for path, who, code in [
            ("/api/v1/campaigns", evaluator, 200),
            (f"/api/v1/campaigns/{cid}", evaluator, 200),
            (f"/api/v1/campaigns/{cid}/form", {}, 410),
            (f"/s/{cid}", {}, 410),
            (f"/s/{cid}?unit=dept-civil", {}, 410),
            ("/admin/campaigns", world.admin, 200),
            (f"/admin/campaigns/{cid}", world.admin, 200),
        ]:
            assert client.get(path, headers=who).status_code == code, path
    finally:
        event.remove(app.state.engine, "before_cursor_execute", spy)
    assert "SELECT" in statements
    assert not {"INSERT", "UPDATE", "DELETE"} & set(statements), statements
    assert _marks(session, cid) == 2 and not _purged(session, cid)
    listed = client.get(f"/api/v1/campaigns/{cid}", headers=evaluator).json()
    assert listed["status"] == "closed" and listed["purged_at"] is None
    # The job's one step purges it, with the audit entry the command line records.
    assert purge_step(app.state.engine) == [cid]
    assert _marks(session, cid) == 0 and _purged(session, cid)
    assert _purge_entries(session) == [(JOB_ACTOR, str(cid))]
    assert purge_step(app.state.engine) == []  # once only
    assert _purge_entries(session) == [(JOB_ACTOR, str(cid))]


def test_the_app_purges_at_start_and_then_periodically_and_stops_with_the_app(
    make_app: Callable[..., FastAPI],
) -> None:
    arrange = make_app(purge_interval=0)
    with TestClient(arrange) as client, Session(arrange.state.engine) as s:
        make_units(s)
        admin = headers_for(client, s, Role.admin)
        survey = create_survey(client, admin)
        first, second = (
            create_campaign(client, admin, survey),
            create_campaign(client, admin, survey),
        )
        for cid in (first, second):
            r = client.post(f"/api/v1/campaigns/{cid}/responses", json=response_body())
            assert r.status_code == 201
        _close(s, first)

    def wait_until(done: Callable[[], bool]) -> bool:
        deadline = time.monotonic() + 30
        while not done() and time.monotonic() < deadline:
            time.sleep(0.05)
        return done()

    # A long interval: only the pass at start-up can purge the campaign closed before it.
    app = make_app(purge_interval=3600)
    with TestClient(app), Session(app.state.engine) as s:
        assert wait_until(lambda: _purged(s, first))
        assert _marks(s, first) == 0 and _marks(s, second) == 2
        job = app.state.purge_job
        thread = job._thread
        assert thread is not None and thread.is_alive()
    assert app.state.purge_job is None and not thread.is_alive()

    app = make_app(purge_interval=0.1)
    with TestClient(app), Session(app.state.engine) as s:
        _close(s, second)  # closed while the app runs: the next pass purges it
        assert wait_until(lambda: _purged(s, second))
        assert _marks(s, second) == 0
        assert _purge_entries(s) == [(JOB_ACTOR, str(first)), (JOB_ACTOR, str(second))]
        thread = app.state.purge_job._thread
    assert app.state.purge_job is None and not thread.is_alive()


def test_two_processes_purging_at_once_purge_and_audit_each_campaign_once(
    app: FastAPI, client: TestClient, session: Session, world: World
) -> None:
    engine = app.state.engine
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs one writer at a time")
    cid = world.campaign_id
    assert (
        client.post(f"/api/v1/campaigns/{cid}/responses", json=response_body()).status_code == 201
    )
    _close(session, cid)
    got: list[list[int]] = []
    with Session(engine) as first:
        assert purge_and_record(first, actor=JOB_ACTOR) == [cid]
        # The second sees the campaign unpurged, then waits on the first's row lock.
        late = threading.Thread(target=lambda: got.append(purge_step(engine)))
        late.start()
        time.sleep(0.5)
        first.commit()
    late.join(30)
    assert got == [[]]
    assert _purge_entries(session) == [(JOB_ACTOR, str(cid))]
