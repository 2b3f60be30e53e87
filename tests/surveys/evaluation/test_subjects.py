"""Subjects: the API, its roles, 409 and 422, and the spreadsheet import."""

from __future__ import annotations

import io

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlmodel import Session, select

from service.audit import AuditEntry
from service.models import Role
from tests.factories import headers_for
from tests.surveys.evaluation.factories import make_subjects
from tests.surveys.forms.factories import make_units


def test_create_list_update_subjects(client: TestClient, session: Session) -> None:
    make_units(session)
    org = headers_for(client, session, Role.organisation)
    ids = make_subjects(client, org)
    listed = client.get("/api/v1/subjects", headers=org).json()
    assert [s["name"] for s in listed] == ["人社局领导班子", "民政局领导班子", "张明"]
    leader = client.get(f"/api/v1/subjects/{ids[2]}", headers=org).json()
    assert (leader["post"], leader["unit_code"], leader["unit_name"]) == (
        "局长",
        "dept-civil",
        "民政局",
    )
    r = client.patch(
        f"/api/v1/subjects/{ids[2]}",
        json={"is_active": False, "term_start": "2024-01-01"},
        headers=org,
    )
    assert r.status_code == 200 and r.json()["is_active"] is False
    active = client.get("/api/v1/subjects?active=true", headers=org).json()
    assert ids[2] not in [s["id"] for s in active]
    actions = list(
        session.exec(select(AuditEntry.action).where(AuditEntry.action.startswith("subject.")))
    )  # type: ignore[attr-defined]
    assert actions.count("subject.create") == 3 and actions.count("subject.update") == 1


def test_subject_errors_and_roles(client: TestClient, session: Session) -> None:
    make_units(session)
    admin = headers_for(client, session, Role.admin)
    body = {"kind": "leader", "name": "李华", "post": "街道党工委书记", "unit_code": "street-a"}
    assert client.post("/api/v1/subjects", json=body).status_code == 401
    evaluator = headers_for(client, session, Role.evaluator)
    assert client.post("/api/v1/subjects", json=body, headers=evaluator).status_code == 403
    assert client.get("/api/v1/subjects", headers=evaluator).status_code == 403
    assert client.post("/api/v1/subjects", json=body, headers=admin).status_code == 201
    assert client.post("/api/v1/subjects", json=body, headers=admin).status_code == 409
    r = client.post("/api/v1/subjects", json={**body, "unit_code": "nowhere"}, headers=admin)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "unit_code"]
    r = client.post("/api/v1/subjects", json={**body, "kind": "boss"}, headers=admin)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "kind"]
    r = client.post(
        "/api/v1/subjects",
        json={**body, "name": "王五", "term_start": "2025-01-01", "term_end": "2024-01-01"},
        headers=admin,
    )
    assert r.status_code == 422
    assert client.get("/api/v1/subjects/999", headers=admin).status_code == 404


def test_import_checks_every_row_then_writes_all_or_none(
    client: TestClient, session: Session
) -> None:
    make_units(session)
    org = headers_for(client, session, Role.organisation)
    bad = (
        "kind,name,post,unit_code,term_start,term_end\n"
        "班子,民政局领导班子,,dept-civil,,\n"
        "leader,张明,局长,nowhere,2024-13-01,\n"
        "robot,,,,,\n"
    ).encode()
    r = client.post("/api/v1/subjects/import", content=bad, headers=org)
    assert r.status_code == 200
    problems = {(p["row"], p["column"]) for p in r.json()["problems"]}
    assert problems == {(3, "unit_code"), (3, "term_start"), (4, "kind"), (4, "name")}
    r = client.post("/api/v1/subjects/import?dry_run=false", content=bad, headers=org)
    assert r.status_code == 422 and ["row", 3, "unit_code"] in [
        e["loc"] for e in r.json()["detail"]
    ]
    assert client.get("/api/v1/subjects", headers=org).json() == []

    template = client.get("/api/v1/subjects/template.xlsx", headers=org)
    assert template.status_code == 200
    sheet = load_workbook(io.BytesIO(template.content)).worksheets[0]
    assert [c.value for c in sheet[1]] == [
        "kind",
        "name",
        "post",
        "unit_code",
        "term_start",
        "term_end",
    ]
    r = client.post(
        "/api/v1/subjects/import?dry_run=false",
        files={"file": ("subjects.xlsx", template.content)},
        headers=org,
    )
    assert r.status_code == 201, r.text
    assert r.json()["imported"] == 2
    again = client.post(
        "/api/v1/subjects/import", files={"file": ("s.xlsx", template.content)}, headers=org
    ).json()
    assert [p["msg"] for p in again["problems"]] == ["this subject exists already"] * 2
