"""GET /api/v1/campaigns/{id}/evaluation and the one-page report: who may read them, the audit
entry of every read, 404/409/422, the numbers against the computation, and an attacker who
tries to recover each hidden rater group from everything the API answers."""

from __future__ import annotations

import json

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, col, select

from analytics.evaluation.config import parse
from analytics.evaluation.interval import seed_for
from analytics.evaluation.results import subject_result
from service.audit import AuditEntry
from service.models import Role
from surveys.evaluation.models import EvaluationResponse
from tests.analytics.evaluation import world
from tests.factories import headers_for


def url(cid: int) -> str:
    return f"/api/v1/campaigns/{cid}/evaluation"


def views(session: Session, action: str = "evaluation.view") -> list[AuditEntry]:
    session.expire_all()
    return list(
        session.exec(
            select(AuditEntry).where(AuditEntry.action == action).order_by(col(AuditEntry.id))
        )
    )


def test_who_may_read_and_every_read_is_audited(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    w = world.build(app.state.engine)
    assert client.get(url(w.campaign_id)).status_code == 401
    for role in (Role.evaluator, Role.deputy):
        r = client.get(url(w.campaign_id), headers=headers_for(client, session, role))
        assert r.status_code == 403, r.text
    assert views(session) == []
    org = headers_for(client, session, Role.organisation, "orgdept")
    r = client.get(url(w.campaign_id), headers=org)
    assert r.status_code == 200, r.text
    assert [s["subject_id"] for s in r.json()["subjects"]] == w.subject_ids
    admin = headers_for(client, session, Role.admin)
    one = client.get(url(w.campaign_id), params={"subject_id": w.subject_ids[2]}, headers=admin)
    assert [s["name"] for s in one.json()["subjects"]] == ["张明"]
    entries = views(session)
    assert [(e.actor, e.target) for e in entries] == [
        ("orgdept", f"campaign:{w.campaign_id}"),
        ("admin1", f"campaign:{w.campaign_id}"),
    ]
    assert json.loads(entries[0].detail) == {"subjects": w.subject_ids}
    assert json.loads(entries[1].detail) == {"subjects": [w.subject_ids[2]]}


def test_filters_by_kind_and_unit(app: FastAPI, client: TestClient, session: Session) -> None:
    w = world.build(app.state.engine)
    org = headers_for(client, session, Role.organisation)
    teams = client.get(url(w.campaign_id), params={"kind": "team"}, headers=org).json()
    assert [s["kind"] for s in teams["subjects"]] == ["team", "team"]
    civil = client.get(url(w.campaign_id), params={"unit_code": "ev-civil"}, headers=org).json()
    assert [s["name"] for s in civil["subjects"]] == ["民政局领导班子", "张明"]


def test_404_409_and_422(app: FastAPI, client: TestClient, session: Session) -> None:
    w = world.build(app.state.engine)
    org = headers_for(client, session, Role.organisation)
    assert client.get(url(9999), headers=org).status_code == 404
    r = client.get(url(w.campaign_id), params={"subject_id": 9999}, headers=org)
    assert r.status_code == 404
    r = client.get(url(w.campaign_id), params={"kind": "boss"}, headers=org)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "kind"]
    still_open = world.build(app.state.engine, closed=False, prefix="op")
    r = client.get(url(still_open.campaign_id), headers=org)
    assert r.status_code == 409 and "closes" in r.json()["detail"]
    with Session(app.state.engine) as s:
        from surveys.forms.models import Campaign

        c = s.get(Campaign, w.campaign_id)
        assert c is not None
        c.kind = "resident"
        s.add(c)
        s.commit()
    r = client.get(url(w.campaign_id), headers=org)
    assert r.status_code == 409 and "not a democratic evaluation" in r.json()["detail"]
    assert views(session) == []


def test_numbers_are_the_computation(app: FastAPI, client: TestClient, session: Session) -> None:
    w = world.build(app.state.engine, sizes={"members": 6, "staff": 8, "served": 12})
    org = headers_for(client, session, Role.organisation)
    body = client.get(url(w.campaign_id), headers=org).json()
    cfg = parse(w.config)
    for sid, got in zip(w.subject_ids, body["subjects"], strict=True):
        want = subject_result(
            [r for r in w.rows if r.subject_id == sid],
            cfg,
            subject_id=sid,
            k=5,
            seed=seed_for("evaluation", w.campaign_id, sid),
        )
        assert got["n"] == 26
        assert got["score"] == pytest.approx(want.score)
        assert (got["score_low"], got["score_high"]) == pytest.approx(
            (want.score_low, want.score_high)
        )
        assert [g["key"] for g in got["groups"]] == ["members", "staff", "served"]
        overall = got["totals"][0]
        assert overall["item"] == "overall"
        assert {g["grade"]: g["count"] for g in overall["grades"]} == want.totals["overall"].counts
        assert [r["flagged"] for r in got["rules"]] == [x.flagged for x in want.rules]
    # The harshly graded leader carries the adjustment flag, said in words.
    leader = body["subjects"][2]["rules"][1]
    assert leader["text"] == "总体评价中“不称职”占比高于 1/3（“不了解”不计入）"


def test_fewer_raters_than_k_publish_nothing(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    w = world.build(app.state.engine, sizes={"members": 2, "staff": 2, "served": 0})
    org = headers_for(client, session, Role.organisation)
    subject = client.get(url(w.campaign_id), headers=org).json()["subjects"][0]
    assert subject["suppressed"] is True
    assert (subject["n"], subject["score"], subject["totals"], subject["groups"]) == (
        None,
        None,
        [],
        [],
    )
    assert subject["rules"] == []


def _answer(client: TestClient, headers: dict[str, str], cid: int) -> str:
    """Everything the API answers about the campaign: every subject, kind and unit view."""
    parts = [client.get(url(cid), headers=headers).text]
    for params in ({"kind": "team"}, {"kind": "leader"}, {"unit_code": "ev-civil"}):
        parts.append(client.get(url(cid), params=params, headers=headers).text)
    return "\n".join(parts)


def test_attacker_cannot_recover_a_hidden_group(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    """Members (3 raters, k = 5) are published only pooled with staff. The attacker subtracts
    the groups shown from the total, for every item of every subject, and gets the pool, not
    the members; and moving raters between members and staff (same sizes) leaves every byte
    of every answer unchanged, so nothing in them depends on how the pool splits."""
    w = world.build(app.state.engine)
    org = headers_for(client, session, Role.organisation)
    body = client.get(url(w.campaign_id), headers=org).json()
    for subject in body["subjects"]:
        keys = [g["key"] for g in subject["groups"]]
        assert keys == ["members+staff", "served"]
        assert all(g["n"] >= 5 for g in subject["groups"])
        for t_idx, total in enumerate(subject["totals"]):
            recovered = {g["grade"]: g["count"] for g in total["grades"]}
            for group in subject["groups"]:
                if group["key"] != "members+staff":
                    for g in group["items"][t_idx]["grades"]:
                        recovered[g["grade"]] -= g["count"]
            truth = dict.fromkeys(recovered, 0)
            for r in w.rows:
                if (
                    r.subject_id == subject["subject_id"]
                    and r.item == total["item"]
                    and r.rater_group == "members"
                ):
                    truth[r.grade] += 1
            assert sum(recovered.values()) == 11 != sum(truth.values()) == 3
    before = _answer(client, org, w.campaign_id)
    members = [r.response_id for r in w.rows if r.rater_group == "members"]
    staff = [r.response_id for r in w.rows if r.rater_group == "staff"]
    members, staff = sorted(set(members)), sorted(set(staff))
    # Swap the labels of raters between the two groups of the pool, keeping both sizes.
    with Session(app.state.engine) as s:
        swap_m, swap_s = members[:2], staff[-2:]
        s.execute(
            update(EvaluationResponse)
            .where(col(EvaluationResponse.id).in_(swap_m))
            .values(rater_group="x")
        )
        s.execute(
            update(EvaluationResponse)
            .where(col(EvaluationResponse.id).in_(swap_s))
            .values(rater_group="members")
        )
        s.execute(
            update(EvaluationResponse)
            .where(col(EvaluationResponse.rater_group) == "x")
            .values(rater_group="staff")
        )
        s.commit()
    assert _answer(client, org, w.campaign_id) == before


def test_one_page_report(app: FastAPI, client: TestClient, session: Session) -> None:
    w = world.build(app.state.engine)
    report = f"{url(w.campaign_id)}/subjects/{w.subject_ids[2]}/report"
    assert client.get(report).status_code == 401
    assert (
        client.get(report, headers=headers_for(client, session, Role.evaluator)).status_code == 403
    )
    org = headers_for(client, session, Role.organisation, "orgdept")
    r = client.get(report, headers=org)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert "张明" in html and "<script" not in html and "http" not in html.split("</style>")[1]
    api = client.get(url(w.campaign_id), params={"subject_id": w.subject_ids[2]}, headers=org)
    score = api.json()["subjects"][0]["score"]
    assert f'id="score">{score:.1f}<' in html
    assert "组织调整" in html and "触发" in html
    en = client.get(report, params={"lang": "en"}, headers=org).text
    assert "Weighted score" in en and "Adjustment" in en
    entries = views(session, "evaluation.report")
    assert [(e.actor, json.loads(e.detail)) for e in entries] == [
        ("orgdept", {"subjects": [w.subject_ids[2]]}),
        ("orgdept", {"subjects": [w.subject_ids[2]]}),
    ]
    other = f"{url(w.campaign_id)}/subjects/9999/report"
    assert client.get(other, headers=org).status_code == 404
