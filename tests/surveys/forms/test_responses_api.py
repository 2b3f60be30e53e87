"""The public form and response endpoints: 201, 422 per field, 409, 410, retries, privacy."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text
from sqlmodel import Session, select

from service.db import utcnow
from surveys.forms.models import Answer, Invitation, SurveyResponse
from tests.conftest import SECRETS
from tests.surveys.forms.factories import answers, create_campaign, response_body, stored_id
from tests.surveys.forms.fixtures import World


def post(client: TestClient, cid: int, body: dict, **kw):  # type: ignore[no-untyped-def]
    return client.post(f"/api/v1/campaigns/{cid}/responses", json=body, **kw)


def test_form_is_public(client: TestClient, world: World) -> None:
    r = client.get(f"/api/v1/campaigns/{world.campaign_id}/form")
    assert r.status_code == 200
    form = r.json()
    assert [u["code"] for u in form["units"]] == ["dept-civil", "dept-hrss", "win-social"]
    assert form["questions"][0]["label"] == "服务态度"
    assert {a["code"] for a in form["areas"]} == {"district", "street-a", "comm-a1", "comm-a2"}
    assert form["form_token"] and form["age_bands"][0] == "under-18"


def test_response_is_stored_with_answers(
    client: TestClient, session: Session, world: World
) -> None:
    body = response_body(
        answers=answers(
            3, recommend=8, channel="online", online_issue=["slow", "login"], visits="2"
        )
    )
    r = post(client, world.campaign_id, body)
    assert r.status_code == 201, r.text
    rid = stored_id(client, r.json()["id"])
    row = session.get(SurveyResponse, rid)
    assert row is not None
    assert (row.unit_id, row.age_band, row.sex, row.source) == (5, "30-39", "female", "web")
    assert row.area_unit_id == 3
    assert row.comment == "窗口工作人员态度很好，耐心解答"
    assert row.submitted_hour.minute == 0 and row.submitted_hour.second == 0
    assert abs(row.submitted_hour - utcnow()) < timedelta(hours=1, minutes=1)
    stored = {
        a.question_key: (a.value_num, a.value_text)
        for a in session.exec(select(Answer).where(Answer.response_id == rid))
    }
    assert stored["attitude"] == (3.0, None)
    assert stored["recommend"] == (8.0, None)
    assert stored["channel"] == (None, "online")
    assert stored["online_issue"] == (None, "login slow")
    assert stored["visits"] == (2.0, None)
    c = client.get(f"/api/v1/campaigns/{world.campaign_id}", headers=world.admin).json()
    assert c["response_count"] == 1


def test_422_names_each_bad_field(client: TestClient, session: Session, world: World) -> None:
    body = response_body(
        unit_code="dept-nope",
        area_code="dept-civil",
        answers={
            "attitude": 6,
            "efficiency": "fast",
            "transparency": 2.5,
            "integrity": True,
            "channel": "fax",
            "recommend": 11,
            "ghost": 1,
        },
    )
    r = post(client, world.campaign_id, body)
    assert r.status_code == 422
    locs = {tuple(e["loc"]) for e in r.json()["detail"]}
    assert {
        ("body", "unit_code"),
        ("body", "area_code"),
        ("body", "answers", "attitude"),
        ("body", "answers", "efficiency"),
        ("body", "answers", "transparency"),
        ("body", "answers", "integrity"),
        ("body", "answers", "results"),  # required, missing
        ("body", "answers", "channel"),
        ("body", "answers", "recommend"),
        ("body", "answers", "ghost"),
    } <= locs, locs
    for bad in (
        {"profile": {"age_band": "old"}},
        {"profile": {"sex": "x"}},
        {"profile": {"height": 180}},
        {"submission_id": "no spaces allowed"},
        {"comment": "长" * 2001},
        {"answers": "not an object"},
    ):
        r = post(client, world.campaign_id, response_body(**bad))
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["detail"][0]["loc"][0] == "body"
    r = post(client, world.campaign_id, {"answers": answers()})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "unit_code"]
    assert session.exec(select(SurveyResponse)).first() is None


def test_hidden_follow_up_is_discarded(client: TestClient, session: Session, world: World) -> None:
    body = response_body(answers=answers(4, channel="hall", online_issue=["slow"]))
    rid = stored_id(client, post(client, world.campaign_id, body).json()["id"])
    keys = set(session.exec(select(Answer.question_key).where(Answer.response_id == rid)))
    assert "online_issue" not in keys and "channel" in keys


def test_retry_is_idempotent(client: TestClient, session: Session, world: World) -> None:
    body = response_body()
    first = post(client, world.campaign_id, body)
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    again = post(client, world.campaign_id, {**body, "comment": "changed on retry"})
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    rows = session.exec(select(SurveyResponse)).all()
    assert len(rows) == 1 and rows[0].comment == body["comment"]
    # The same submission id is a different submission in another campaign.
    other = create_campaign(client, world.admin, world.survey_id)
    assert post(client, other, body).json()["id"] != first.json()["id"]


def test_scheduled_409_closed_410(client: TestClient, session: Session, world: World) -> None:
    now = utcnow()
    later = create_campaign(
        client,
        world.admin,
        world.survey_id,
        opens_at=(now + timedelta(days=1)).isoformat(),
        closes_at=(now + timedelta(days=2)).isoformat(),
    )
    assert post(client, later, response_body()).status_code == 409
    assert client.get(f"/api/v1/campaigns/{later}/form").status_code == 409
    body = response_body()
    assert post(client, world.campaign_id, body).status_code == 201
    r = client.patch(
        f"/api/v1/campaigns/{world.campaign_id}",
        json={"closes_at": (now - timedelta(seconds=1)).isoformat()},
        headers=world.admin,
    )
    assert r.status_code == 200
    assert post(client, world.campaign_id, response_body()).status_code == 410
    assert client.get(f"/api/v1/campaigns/{world.campaign_id}/form").status_code == 410
    # A retry of what was stored before closing still gets its id.
    r = post(client, world.campaign_id, body)
    assert r.status_code == 201 and r.headers["idempotent-replayed"] == "true"


def _invitation_campaign(client: TestClient, world: World, n: int = 3) -> tuple[int, list[str]]:
    cid = create_campaign(client, world.admin, world.survey_id, access="invitation")
    r = client.post(f"/api/v1/campaigns/{cid}/invitations", json={"count": n}, headers=world.admin)
    assert r.status_code == 201, r.text
    codes = r.json()["codes"]
    SECRETS.update(codes)  # never in a log line
    return cid, codes


def test_invitation_codes(client: TestClient, session: Session, world: World) -> None:
    cid, codes = _invitation_campaign(client, world)
    assert len(codes) == len(set(codes)) == 3
    assert all(len(c) == 14 for c in codes)
    r = post(client, cid, response_body())
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "invitation_code"]
    r = post(client, cid, response_body(invitation_code="AAAA-BBBB-CCCC"))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "invitation_code"]
    body = response_body(invitation_code=codes[0].lower().replace("-", " "))
    assert post(client, cid, body).status_code == 201
    r = post(client, cid, response_body(invitation_code=codes[0]))
    assert r.status_code == 409
    # The first post retried with the same submission id: the original, not a 409.
    r = post(client, cid, body)
    assert r.status_code == 201 and r.headers["idempotent-replayed"] == "true"
    # A code works only for its own campaign.
    other, other_codes = _invitation_campaign(client, world, 1)
    assert post(client, cid, response_body(invitation_code=other_codes[0])).status_code == 422
    used = session.exec(select(Invitation.used).where(Invitation.campaign_id == cid)).all()
    assert sorted(used) == [False, False, True]
    # Open campaigns take no codes; bad counts are 422.
    r = client.post(
        f"/api/v1/campaigns/{world.campaign_id}/invitations", json={"count": 2}, headers=world.admin
    )
    assert r.status_code == 409
    for count in (0, 10_001, "many"):
        r = client.post(
            f"/api/v1/campaigns/{cid}/invitations", json={"count": count}, headers=world.admin
        )
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "count"]


def test_a_response_cannot_be_linked_to_its_code(
    client: TestClient, session: Session, world: World
) -> None:
    cid, codes = _invitation_campaign(client, world, 3)
    sub = str(uuid.uuid4())
    body = response_body(invitation_code=codes[1], submission_id=sub)
    public = post(client, cid, body, headers={"user-agent": "PhoneBrowser/1.0"}).json()["id"]
    rid = stored_id(client, public)
    engine = session.get_bind()
    cols = {
        t: {c["name"] for c in inspect(engine).get_columns(t)}
        for t in ("survey_response", "invitation", "abuse_mark")
    }
    # Nothing points from a code (or from abuse data) to a response, nor back. A code's batch
    # is its print run, set when it is issued, and says nothing of when or how it was used.
    # A democratic evaluation's code also names its rater group, which its sheet keeps anyway.
    assert cols["invitation"] == {"id", "campaign_id", "code_hash", "used", "batch", "rater_group"}
    assert cols["abuse_mark"] == {
        "campaign_id",
        "kind",
        "key_hash",
        "window_start_at",
        "window_count",
        "total_count",
    }
    assert not cols["survey_response"] & {
        "invitation_id",
        "code",
        "code_hash",
        "ip",
        "user_agent",
        "created_at",
        "client_hash",
    }
    with engine.connect() as conn:
        resp = (
            conn.execute(text("SELECT * FROM survey_response WHERE id = :i"), {"i": rid})
            .mappings()
            .one()
        )
        hashes = {r[0] for r in conn.execute(text("SELECT code_hash FROM invitation"))}
        hashes |= {r[0] for r in conn.execute(text("SELECT key_hash FROM abuse_mark"))}
    dump = " ".join(map(str, resp.values()))
    for secret in [
        codes[1],
        codes[1].replace("-", ""),
        sub,
        "127.0.0.1",
        "testclient",
        "PhoneBrowser",
        *hashes,
    ]:
        assert secret not in dump
    hour = resp["submitted_hour"]
    if isinstance(hour, str):  # SQLite hands back text
        assert hour.endswith(":00:00") or hour.endswith(":00:00.000000")
    else:
        assert (hour.minute, hour.second, hour.microsecond) == (0, 0, 0)


def test_fast_path_answers_like_the_route(
    client: TestClient, session: Session, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A valid post skips the framework's stack, a bad one goes down it: both answer as the
    route does, with the security headers, and a too-large body still gets 413."""
    from surveys.forms import fastpath

    routed: list[object] = []
    real_replay = fastpath._replay

    def replay(messages, receive):  # type: ignore[no-untyped-def]
        routed.append(messages)  # the request goes down the framework's stack to the route
        return real_replay(messages, receive)

    monkeypatch.setattr(fastpath, "_replay", replay)
    body = response_body(answers=answers(4))
    r = post(client, world.campaign_id, body)
    assert r.status_code == 201 and r.headers["x-frame-options"] == "DENY"
    again = post(client, world.campaign_id, body)
    assert again.json() == r.json() and again.headers["idempotent-replayed"] == "true"
    assert session.exec(select(SurveyResponse)).all()[0].id == stored_id(client, r.json()["id"])
    assert routed == []  # both answered by the fast path
    # A body the model refuses is answered by the route (FastAPI's 422 shape).
    bad = post(client, world.campaign_id, {**response_body(answers=answers(4)), "unit_code": 7})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "unit_code"]
    assert len(routed) == 1
    assert "content-security-policy" in bad.headers
    # An application error on the fast path goes through the app's own handler.
    gone = post(client, 999_999, response_body(answers=answers(4)))
    assert gone.status_code == 404 and "content-security-policy" in gone.headers
    huge = client.post(
        f"/api/v1/campaigns/{world.campaign_id}/responses",
        content=b'{"comment": "' + b"x" * 2_000_000 + b'"}',
        headers={"content-type": "application/json"},
    )
    assert huge.status_code == 413
