"""Abuse flags (burst, too fast, straight line, duplicate comment), rate limits and the purge."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from service.db import utcnow
from service.models import Role
from surveys.forms import abuse
from surveys.forms.abuse import BURST_MAX
from surveys.forms.exports import public_id
from surveys.forms.models import AbuseMark, Campaign, SurveyResponse
from surveys.forms.purge_job import purge_step
from tests.conftest import TEST_SECRET_KEY
from tests.factories import headers_for
from tests.surveys.forms.factories import (
    answers,
    create_campaign,
    create_survey,
    make_units,
    response_body,
    stored_id,
)
from tests.surveys.forms.fixtures import World


def _flags(session: Session, rid: int) -> tuple[str, bool]:
    row = session.get(SurveyResponse, rid)
    assert row is not None
    session.expire(row)
    return row.flags, row.flagged


def post(client: TestClient, cid: int, body: dict, ua: str = "ua-1") -> int:  # type: ignore[type-arg]
    r = client.post(f"/api/v1/campaigns/{cid}/responses", json=body, headers={"user-agent": ua})
    assert r.status_code == 201, r.text
    return stored_id(client, r.json()["id"])


def varied(i: int) -> dict[str, object]:
    return answers(3, attitude=1 + i % 5, efficiency=2)


def test_burst_from_one_client_is_flagged(
    client: TestClient, session: Session, world: World
) -> None:
    ids = [
        post(client, world.campaign_id, response_body(answers=varied(i), comment=None))
        for i in range(BURST_MAX + 2)
    ]
    flags = [_flags(session, rid) for rid in ids]
    assert all(f == ("", False) for f in flags[:BURST_MAX])
    assert flags[BURST_MAX] == ("burst", True) and flags[BURST_MAX + 1] == ("burst", True)
    # Another device on another network is not part of the burst.
    other = post(
        client, world.campaign_id, response_body(answers=varied(0), comment=None), ua="ua-2"
    )
    assert _flags(session, other) == ("", False)
    c = client.get(f"/api/v1/campaigns/{world.campaign_id}", headers=world.admin).json()
    assert (c["response_count"], c["flagged_count"]) == (BURST_MAX + 3, 2)
    # The admin's review page names them by their public ids, as the export does.
    page = client.get(f"/admin/campaigns/{world.campaign_id}", headers=world.admin).text
    secret = client.app.state.settings.secret_key  # type: ignore[attr-defined]
    for rid in ids[BURST_MAX:]:
        assert f"<tr><td>{public_id(secret, rid)}</td>" in page


def test_too_fast_needs_a_fresh_token(client: TestClient, session: Session, world: World) -> None:
    token = client.get(f"/api/v1/campaigns/{world.campaign_id}/form").json()["form_token"]
    fast = post(
        client, world.campaign_id, response_body(answers=varied(1), form_token=token, comment=None)
    )
    assert _flags(session, fast) == ("too_fast", True)
    old = abuse.issue_form_token(
        TEST_SECRET_KEY, world.campaign_id, utcnow() - timedelta(minutes=2)
    )
    slow = post(
        client,
        world.campaign_id,
        response_body(answers=varied(2), form_token=old, comment=None),
        ua="ua-2",
    )
    assert _flags(session, slow) == ("", False)
    forged = old.split(".")[0] + ".0000"
    r = post(
        client,
        world.campaign_id,
        response_body(answers=varied(3), form_token=forged, comment=None),
        ua="ua-3",
    )
    assert _flags(session, r) == ("", False)


def test_straight_line_alone_is_noted_not_excluded(
    client: TestClient, session: Session, world: World
) -> None:
    rid = post(client, world.campaign_id, response_body(answers=answers(5), comment=None))
    assert _flags(session, rid) == ("straight_line", False)
    token = client.get(f"/api/v1/campaigns/{world.campaign_id}/form").json()["form_token"]
    rid = post(
        client,
        world.campaign_id,
        response_body(answers=answers(1), form_token=token, comment=None),
        ua="b",
    )
    assert _flags(session, rid) == ("too_fast,straight_line", True)


def test_duplicate_comment(client: TestClient, session: Session, world: World) -> None:
    text = "办事效率太低，跑了三趟还没办好！"
    first = post(client, world.campaign_id, response_body(answers=varied(1), comment=text), ua="a")
    again = post(
        client,
        world.campaign_id,
        response_body(answers=varied(2), comment=" 办事效率太低 跑了三趟还没办好 "),
        ua="b",
    )
    short1 = post(
        client, world.campaign_id, response_body(answers=varied(3), comment="很好"), ua="c"
    )
    short2 = post(
        client, world.campaign_id, response_body(answers=varied(4), comment="很好"), ua="d"
    )
    assert _flags(session, first) == ("", False)
    assert _flags(session, again) == ("duplicate_comment", True)
    assert _flags(session, short1) == _flags(session, short2) == ("", False)


def test_rate_limit_answers_429(make_app: Callable[..., FastAPI]) -> None:
    app = make_app(rate_limit="3/minute")
    with TestClient(app) as client, Session(app.state.engine) as session:
        make_units(session)
        admin = headers_for(client, session, Role.admin)
        cid = create_campaign(client, admin, create_survey(client, admin))
        codes = [
            client.post(f"/api/v1/campaigns/{cid}/responses", json=response_body()).status_code
            for _ in range(4)
        ]
        assert codes == [201, 201, 201, 429]
        r = client.post(f"/api/v1/campaigns/{cid}/responses", json=response_body())
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1


def test_abuse_data_is_purged_when_the_campaign_closes(
    client: TestClient, session: Session, world: World
) -> None:
    post(client, world.campaign_id, response_body(comment="窗口工作人员态度很好，耐心解答"))
    other = create_campaign(client, world.admin, world.survey_id)
    post(client, other, response_body(comment="窗口工作人员态度很好，耐心解答"))
    marks = session.exec(select(AbuseMark.campaign_id, AbuseMark.kind)).all()
    assert sorted(marks) == [
        (world.campaign_id, "client"),
        (world.campaign_id, "comment"),
        (other, "client"),
        (other, "comment"),
    ]
    past = (utcnow() - timedelta(seconds=1)).isoformat()
    client.patch(
        f"/api/v1/campaigns/{world.campaign_id}", json={"closes_at": past}, headers=world.admin
    )
    # Reading the closed campaign leaves its data; the app's purge job deletes it.
    assert client.get(f"/api/v1/campaigns/{world.campaign_id}/form").status_code == 410
    assert session.exec(select(AbuseMark).where(AbuseMark.campaign_id == world.campaign_id)).first()
    assert purge_step(session.get_bind()) == [world.campaign_id]  # type: ignore[arg-type]
    session.expire_all()
    assert {m for m, _ in session.exec(select(AbuseMark.campaign_id, AbuseMark.kind)).all()} == {
        other
    }
    c = session.get(Campaign, world.campaign_id)
    assert c is not None and c.purged_at is not None
    # Responses stay; the open campaign's marks stay.
    assert len(session.exec(select(SurveyResponse)).all()) == 2
    body = client.get(f"/api/v1/campaigns/{world.campaign_id}", headers=world.admin).json()
    assert body["purged_at"] is not None and body["response_count"] == 1


def test_purge_on_late_post(client: TestClient, session: Session, world: World) -> None:
    post(client, world.campaign_id, response_body())
    past = (utcnow() - timedelta(seconds=1)).isoformat()
    # Closed directly in the database, as another process would: the cached form expires.
    c = session.get(Campaign, world.campaign_id)
    assert c is not None
    c.closes_at = utcnow() - timedelta(seconds=1)
    session.add(c)
    session.commit()
    client.app.state.form_cache.invalidate()  # type: ignore[attr-defined]
    r = client.post(f"/api/v1/campaigns/{world.campaign_id}/responses", json=response_body())
    assert r.status_code == 410, (r.text, past)
    session.expire_all()
    assert session.exec(select(AbuseMark)).first() is None


def test_purge_unties_invitation_rows_from_their_transactions(
    client: TestClient, session: Session, world: World
) -> None:
    from sqlalchemy import text

    from tests.conftest import SECRETS

    cid = create_campaign(client, world.admin, world.survey_id, access="invitation")
    codes = client.post(
        f"/api/v1/campaigns/{cid}/invitations", json={"count": 4}, headers=world.admin
    ).json()["codes"]
    SECRETS.update(codes)
    for i, code in enumerate(codes[:3]):
        body = response_body(answers=varied(i), invitation_code=code, comment=None)
        post(client, cid, body, ua=f"ua-{i}")
    client.patch(
        f"/api/v1/campaigns/{cid}",
        json={"closes_at": (utcnow() - timedelta(seconds=1)).isoformat()},
        headers=world.admin,
    )
    engine = session.get_bind()
    assert purge_step(engine) == [cid]  # type: ignore[arg-type]
    if engine.dialect.name != "postgresql":
        return  # SQLite keeps no transaction id in a row
    with engine.connect() as conn:
        inv = {
            r[0]
            for r in conn.execute(
                text("SELECT xmin::text FROM invitation WHERE campaign_id = :c"), {"c": cid}
            )
        }
        resp = {
            r[0]
            for r in conn.execute(
                text("SELECT xmin::text FROM survey_response WHERE campaign_id = :c"), {"c": cid}
            )
        }
    assert len(inv) == 1 and not inv & resp
