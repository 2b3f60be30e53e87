"""A democratic evaluation as a campaign: creation, 422 on its configuration, the frozen and
hashed configuration, codes per rater group, sheets once per code, and anonymity."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from service.models import Role
from surveys.evaluation.config import DEFAULT_CONFIG, default_config, frozen_hash
from surveys.evaluation.models import RESPONSE_TABLE
from surveys.evaluation.service import grade_counts
from tests.factories import headers_for
from tests.surveys.evaluation.factories import (
    campaign_body,
    codes,
    create_evaluation,
    make_subjects,
    sheet,
)
from tests.surveys.forms.factories import make_units


@pytest.fixture
def admin(client: TestClient, session: Session) -> dict[str, str]:
    make_units(session)
    return headers_for(client, session, Role.admin)


def test_default_configuration_is_stored_and_hashed(
    client: TestClient, admin: dict[str, str]
) -> None:
    ids = make_subjects(client, admin)
    cid = create_evaluation(client, admin, ids)
    c = client.get(f"/api/v1/campaigns/{cid}", headers=admin).json()
    assert c["kind"] == "democratic_evaluation" and c["access"] == "invitation"
    form = client.get(f"/api/v1/evaluations/{cid}/sheet").json()
    # The hash is of the configuration as stored (normalised), which the sheet shows.
    assert c["evaluation_hash"] == frozen_hash(form["evaluation"]) == form["evaluation_hash"]
    assert form["evaluation"] == default_config().model_dump(mode="json")
    assert [s["id"] for s in form["subjects"]] == ids
    assert [g["label"] for g in form["evaluation"]["scale"]] == [
        "优秀",
        "称职",
        "基本称职",
        "不称职",
    ]


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"groups": []}, ["body", "evaluation", "groups"]),
        (
            {"groups": [{"key": "staff", "label": "干部职工", "weight": -1}]},
            ["body", "evaluation", "groups", 0, "weight"],
        ),
        ({"scale": DEFAULT_CONFIG["scale"][:1]}, ["body", "evaluation", "scale"]),
        (
            {"items": [{"key": "de", "label": "德"}, {"key": "de", "label": "德"}]},
            ["body", "evaluation", "items", 1, "key"],
        ),
        (
            {
                "rules": [
                    {
                        "key": "x",
                        "label": "x",
                        "when": {"grades": ["great"], "op": "lt", "share": "2/3"},
                    }
                ]
            },
            ["body", "evaluation", "rules", 0, "when", "grades", 0],
        ),
        (
            {
                "rules": [
                    {
                        "key": "x",
                        "label": "x",
                        "when": {"grades": ["excellent"], "op": "lt", "share": "3/2"},
                    }
                ]
            },
            ["body", "evaluation", "rules", 0, "when", "share"],
        ),
    ],
)
def test_bad_configuration_names_the_field(
    client: TestClient, admin: dict[str, str], change: dict[str, object], loc: list[object]
) -> None:
    ids = make_subjects(client, admin)
    body = campaign_body(ids, evaluation={**DEFAULT_CONFIG, **change})
    r = client.post("/api/v1/campaigns", json=body, headers=admin)
    assert r.status_code == 422, r.text
    assert loc in [e["loc"] for e in r.json()["detail"]]


def test_subjects_and_resident_fields_are_checked(
    client: TestClient, admin: dict[str, str]
) -> None:
    ids = make_subjects(client, admin)
    r = client.post("/api/v1/campaigns", json=campaign_body([]), headers=admin)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "subject_ids"]
    r = client.post("/api/v1/campaigns", json=campaign_body([ids[0], 999, ids[0]]), headers=admin)
    assert [e["loc"] for e in r.json()["detail"]] == [
        ["body", "subject_ids", 1],
        ["body", "subject_ids", 2],
    ]
    # A resident survey still needs its questionnaire and units.
    resident = {**campaign_body(ids), "kind": "resident", "subject_ids": []}
    r = client.post("/api/v1/campaigns", json=resident, headers=admin)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "survey_id"]


def test_configuration_changes_until_opening_then_is_frozen(
    client: TestClient, admin: dict[str, str]
) -> None:
    ids = make_subjects(client, admin)
    later = create_evaluation(client, admin, ids, opens_in=timedelta(days=1))
    five = {
        **DEFAULT_CONFIG,
        "scale": [{"key": f"g{p}", "label": str(p), "points": p} for p in (100, 80, 60, 40, 20)],
        "rules": [],
    }
    r = client.put(
        f"/api/v1/campaigns/{later}/evaluation",
        json={"evaluation": five, "subject_ids": ids[:2]},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    assert (
        r.json()["evaluation_hash"]
        == frozen_hash(client.get(f"/api/v1/evaluations/{later}/sheet").json()["evaluation"])
        != frozen_hash(DEFAULT_CONFIG)
    )
    assert len(client.get(f"/api/v1/evaluations/{later}/sheet").json()["subjects"]) == 2
    opened = create_evaluation(client, admin, ids)
    r = client.put(
        f"/api/v1/campaigns/{opened}/evaluation", json={"evaluation": five}, headers=admin
    )
    assert r.status_code == 409
    assert (
        client.put(f"/api/v1/campaigns/{opened}/evaluation", json={"subject_ids": ids}).status_code
        == 401
    )


def test_codes_belong_to_a_rater_group(client: TestClient, admin: dict[str, str]) -> None:
    ids = make_subjects(client, admin)
    cid = create_evaluation(client, admin, ids)
    r = client.post(f"/api/v1/campaigns/{cid}/invitations", json={"count": 2}, headers=admin)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "rater_group"]
    r = client.post(
        f"/api/v1/campaigns/{cid}/invitations",
        json={"count": 2, "rater_group": "aliens"},
        headers=admin,
    )
    assert r.status_code == 422
    assert len(codes(client, admin, cid, "staff", 3)) == 3


def test_one_sheet_per_code_and_nothing_that_identifies(
    client: TestClient, admin: dict[str, str], session: Session
) -> None:
    ids = make_subjects(client, admin)
    cid = create_evaluation(client, admin, ids)
    staff = codes(client, admin, cid, "staff", 2)
    served = codes(client, admin, cid, "served", 1)
    url = f"/api/v1/evaluations/{cid}/sheet"
    assert client.post(url, json=sheet(staff[0], ids)).status_code == 201
    assert client.post(url, json=sheet(staff[0], ids)).status_code == 409
    # Typed from paper: case, spaces and dashes do not matter.
    assert (
        client.post(url, json=sheet(staff[1].lower().replace("-", " "), ids, "unknown")).status_code
        == 201
    )
    r = client.post(url, json=sheet("AAAA-BBBB-CCCC", ids))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "invitation_code"]
    incomplete = sheet(served[0], ids)
    del incomplete["grades"][str(ids[1])]["lian"]
    incomplete["grades"][str(ids[0])]["de"] = "superb"
    r = client.post(url, json=incomplete)
    assert r.status_code == 422
    assert [e["loc"] for e in r.json()["detail"]] == [
        ["body", "grades", str(ids[0]), "de"],
        ["body", "grades", str(ids[1]), "lian"],
    ]
    # The failed sheet left the code unused.
    assert client.post(url, json=sheet(served[0], ids, "competent")).status_code == 201

    assert set(RESPONSE_TABLE.c.keys()) == {"id", "campaign_id", "rater_group", "submitted_hour"}
    hours = session.execute(sa.select(RESPONSE_TABLE.c.submitted_hour)).scalars().all()
    assert all(h.minute == 0 and h.second == 0 and h.microsecond == 0 for h in hours)
    counts = {
        (c.rater_group, c.subject_id, c.item, c.grade): c.n
        for c in grade_counts(session, campaign_id=cid)
    }
    assert counts[("staff", ids[0], "overall", "excellent")] == 1
    assert counts[("staff", ids[0], "overall", "unknown")] == 1
    assert counts[("served", ids[2], "lian", "competent")] == 1
    assert sum(counts.values()) == 3 * 3 * 6


def test_sheet_outside_the_window_or_of_a_resident_campaign(
    client: TestClient, admin: dict[str, str]
) -> None:
    ids = make_subjects(client, admin)
    later = create_evaluation(client, admin, ids, opens_in=timedelta(days=1))
    code = codes(client, admin, later, "staff", 1)[0]
    assert (
        client.post(f"/api/v1/evaluations/{later}/sheet", json=sheet(code, ids)).status_code == 409
    )
    assert client.get("/api/v1/evaluations/999/sheet").status_code == 404


def test_sheets_count_against_the_public_rate_limit(make_app: Callable[..., FastAPI]) -> None:
    app = make_app(rate_limit="2/minute")
    with TestClient(app) as client, Session(app.state.engine) as session:
        make_units(session)
        admin = headers_for(client, session, Role.admin)
        ids = make_subjects(client, admin)
        cid = create_evaluation(client, admin, ids)
        url = f"/api/v1/evaluations/{cid}/sheet"
        statuses = [
            client.post(url, json=sheet("AAAA-BBBB-CCCC", ids)).status_code for _ in range(3)
        ]
    assert statuses == [422, 422, 429]
