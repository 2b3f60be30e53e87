"""Questionnaires and campaigns through the API: create, read, validate, version, audit."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from service.audit import AuditEntry
from service.db import utcnow
from service.models import Role
from surveys.forms.models import Campaign, Question
from tests.factories import headers_for
from tests.surveys.forms.factories import campaign_body, response_body, survey_body
from tests.surveys.forms.fixtures import World


def test_create_and_read_survey(client: TestClient, world: World) -> None:
    r = client.get(f"/api/v1/surveys/{world.survey_id}", headers=world.admin)
    assert r.status_code == 200
    body = r.json()
    assert body["title"] == "政风行风评议"
    assert [q["key"] for q in body["questions"]][:5] == [
        "attitude",
        "efficiency",
        "transparency",
        "integrity",
        "results",
    ]
    att = body["questions"][0]
    assert (att["type"], att["dimension"], att["scale_min"], att["scale_max"]) == (
        "rating",
        "attitude",
        1,
        5,
    )
    nps = next(q for q in body["questions"] if q["key"] == "recommend")
    assert (nps["scale_min"], nps["scale_max"]) == (0, 10)
    listed = client.get("/api/v1/surveys", headers=world.admin).json()
    assert listed[0]["id"] == world.survey_id and listed[0]["question_count"] == 9


def test_rating_scale_defaults_to_1_5(client: TestClient, admin: dict[str, str]) -> None:
    body = {"title": "t", "questions": [{"key": "q", "type": "rating", "label": "满意度"}]}
    sid = client.post("/api/v1/surveys", json=body, headers=admin).json()["id"]
    q = client.get(f"/api/v1/surveys/{sid}", headers=admin).json()["questions"][0]
    assert (q["scale_min"], q["scale_max"], q["required"]) == (1, 5, False)


def test_survey_422_names_the_field(client: TestClient, admin: dict[str, str]) -> None:
    cases = [
        ({"title": "", "questions": [{"key": "a", "type": "text", "label": "x"}]}, "title"),
        ({"title": "t", "questions": []}, "questions"),
        ({"title": "t", "questions": [{"key": "1bad", "type": "text", "label": "x"}]}, "key"),
        ({"title": "t", "questions": [{"key": "a", "type": "stars", "label": "x"}]}, "type"),
        (
            {"title": "t", "questions": [{"key": "a", "type": "single_choice", "label": "x"}]},
            "options",
        ),
        (
            {
                "title": "t",
                "questions": [
                    {"key": "a", "type": "rating", "label": "x", "scale_min": 5, "scale_max": 1}
                ],
            },
            "scale",
        ),
        (
            {
                "title": "t",
                "questions": [
                    {"key": "a", "type": "text", "label": "x"},
                    {"key": "a", "type": "text", "label": "y"},
                ],
            },
            "used twice",
        ),
        (
            {
                "title": "t",
                "questions": [
                    {
                        "key": "a",
                        "type": "text",
                        "label": "x",
                        "show_if": {"key": "later", "value": "y"},
                    },
                    {"key": "later", "type": "text", "label": "y"},
                ],
            },
            "earlier question",
        ),
        (
            {
                "title": "t",
                "questions": [{"key": "a", "type": "text", "label": "x", "dimension": "d"}],
            },
            "dimension",
        ),
    ]
    for body, needle in cases:
        r = client.post("/api/v1/surveys", json=body, headers=admin)
        assert r.status_code == 422, (body, r.text)
        assert needle in r.text, (needle, r.text)


def test_survey_routes_need_roles(client: TestClient, session: Session, world: World) -> None:
    assert client.post("/api/v1/surveys", json=survey_body()).status_code == 401
    ev = headers_for(client, session, Role.evaluator, "eva")
    assert client.post("/api/v1/surveys", json=survey_body(), headers=ev).status_code == 403
    assert client.get(f"/api/v1/surveys/{world.survey_id}", headers=ev).status_code == 200
    dep = headers_for(client, session, Role.deputy, "dep")
    assert client.get("/api/v1/surveys", headers=dep).status_code == 403
    assert client.get("/api/v1/surveys/999", headers=ev).status_code == 404
    assert client.get("/api/v1/campaigns/999", headers=ev).status_code == 404
    assert (
        client.post(
            "/api/v1/campaigns/999/invitations", json={"count": 1}, headers=world.admin
        ).status_code
        == 404
    )
    assert client.get("/api/v1/campaigns/999/form").status_code == 404
    assert client.post("/api/v1/campaigns/999/responses", json=response_body()).status_code == 404


def test_edit_before_responses_is_in_place_after_is_new_version(
    client: TestClient, session: Session, world: World
) -> None:
    edited = survey_body(title="政风行风评议（修订）")
    r = client.put(f"/api/v1/surveys/{world.survey_id}", json=edited, headers=world.admin)
    assert r.status_code == 200 and r.json()["id"] == world.survey_id
    assert (
        client.post(
            f"/api/v1/campaigns/{world.campaign_id}/responses", json=response_body()
        ).status_code
        == 201
    )
    body = client.get(f"/api/v1/surveys/{world.survey_id}", headers=world.admin).json()
    assert body["frozen"] is True
    edited["questions"] = edited["questions"][:5]
    r = client.put(f"/api/v1/surveys/{world.survey_id}", json=edited, headers=world.admin)
    assert r.status_code == 201, r.text
    new = r.json()
    assert (
        new["id"] != world.survey_id
        and new["version"] == 2
        and new["previous_id"] == world.survey_id
    )
    # The old version keeps its questions; the campaign still uses it.
    old_keys = session.exec(select(Question.key).where(Question.survey_id == world.survey_id)).all()
    assert len(old_keys) == 9
    assert session.get(Campaign, world.campaign_id).survey_id == world.survey_id  # type: ignore[union-attr]
    actions = session.exec(select(AuditEntry.action)).all()
    assert {"survey.create", "survey.update", "survey.version", "campaign.create"} <= set(actions)


def test_campaign_create_read_and_validate(client: TestClient, world: World) -> None:
    r = client.get(f"/api/v1/campaigns/{world.campaign_id}", headers=world.admin)
    assert r.status_code == 200
    c = r.json()
    assert c["status"] == "open" and c["access"] == "open"
    assert c["unit_codes"] == ["dept-civil", "dept-hrss", "win-social"]
    assert c["response_count"] == 0
    assert [x["id"] for x in client.get("/api/v1/campaigns", headers=world.admin).json()] == [
        world.campaign_id
    ]
    bad = [
        (
            campaign_body(world.survey_id, unit_codes=["dept-civil", "nope"]),
            ["body", "unit_codes", 1],
        ),
        (campaign_body(9999), ["body", "survey_id"]),
        (campaign_body(world.survey_id, opens_at="2026-01-01T00:00:00"), ["body", "opens_at"]),
        (campaign_body(world.survey_id, access="secret"), ["body", "access"]),
        (
            campaign_body(world.survey_id, dimension_weights={"speed": 1}),
            ["body", "dimension_weights", "speed"],
        ),
    ]
    for body, loc in bad:
        r = client.post("/api/v1/campaigns", json=body, headers=world.admin)
        assert r.status_code == 422, (body, r.text)
        assert any(e["loc"][: len(loc)] == loc for e in r.json()["detail"]), (loc, r.text)
    now = utcnow()
    r = client.post(
        "/api/v1/campaigns",
        json=campaign_body(
            world.survey_id,
            opens_at=now.isoformat(),
            closes_at=(now - timedelta(days=1)).isoformat(),
        ),
        headers=world.admin,
    )
    assert r.status_code == 422 and "closes_at" in r.text


def test_campaign_window_is_timezone_aware(client: TestClient, world: World) -> None:
    # Opens at 08:00 in Beijing (UTC+8): that is 00:00 UTC.
    body = campaign_body(
        world.survey_id, opens_at="2026-03-01T08:00:00+08:00", closes_at="2026-03-31T18:00:00+08:00"
    )
    cid = client.post("/api/v1/campaigns", json=body, headers=world.admin).json()["id"]
    c = client.get(f"/api/v1/campaigns/{cid}", headers=world.admin).json()
    assert c["opens_at"].startswith("2026-03-01T00:00:00")
    assert c["closes_at"].startswith("2026-03-31T10:00:00")
    assert c["status"] == "closed"


def test_patch_campaign_closes_it(client: TestClient, world: World) -> None:
    past = (utcnow() - timedelta(minutes=1)).isoformat()
    r = client.patch(
        f"/api/v1/campaigns/{world.campaign_id}", json={"closes_at": past}, headers=world.admin
    )
    assert r.status_code == 200 and r.json()["status"] == "closed"
    r = client.post(f"/api/v1/campaigns/{world.campaign_id}/responses", json=response_body())
    assert r.status_code == 410
    r = client.patch(
        f"/api/v1/campaigns/{world.campaign_id}",
        json={"opens_at": utcnow().isoformat()},
        headers=world.admin,
    )
    assert r.status_code == 422
