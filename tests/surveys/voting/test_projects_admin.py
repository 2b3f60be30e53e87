"""The office's project work through the API: edit a project (PATCH, audited, frozen once on
an opened vote), shortlist a proposal into a project with the full project fields, and the
pre-filled draft the console's form starts from."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from service.audit import AuditEntry
from service.models import Role
from surveys.voting.models import Proposal, ProposalCreate, ProposalStatus
from surveys.voting.proposals import create_proposal, project_draft
from tests.factories import headers_for
from tests.surveys.voting.conftest import Electorate
from tests.surveys.voting.factories import (
    act,
    create_projects,
    create_session,
    session_payload,
)


def _audit(session: Session, action: str) -> list[AuditEntry]:
    return list(session.exec(select(AuditEntry).where(AuditEntry.action == action)))


def _proposal(session: Session, **overrides: object) -> int:
    data = {
        "title": "小区加装电梯",
        "description": "老旧小区六层住宅。",
        "category": "养老",
        "area_code": "jianshe",
        "rough_cost": 600_000,
    } | overrides
    proposal = create_proposal(session, data=ProposalCreate(**data), need_approval=True)  # type: ignore[arg-type]
    session.commit()
    return proposal.id or 0


def test_patch_changes_only_the_fields_sent_and_audits_them(
    client: TestClient, session: Session, admin: dict[str, str]
) -> None:
    [pid] = create_projects(client, admin, [800_000])
    r = client.patch(
        f"/api/v1/projects/{pid}",
        json={"title": " 社区食堂二期 ", "budget": 900_000, "area_code": "heping"},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["title"] == "社区食堂二期" and body["budget"] == 900_000
    assert body["area_code"] == "heping" and body["title_en"] == "Project 1"
    assert body["sponsor_unit_code"] == "civil" and body["status"] == "proposed"
    r = client.patch(
        f"/api/v1/projects/{pid}", json={"area_code": None, "status": "selected"}, headers=admin
    )
    assert r.json()["area_code"] is None and r.json()["status"] == "selected"
    # Nothing changed: no audit entry.
    client.patch(f"/api/v1/projects/{pid}", json={"status": "selected"}, headers=admin)
    entries = _audit(session, "project.update")
    assert len(entries) == 2 and entries[0].actor == "admin" and entries[0].target == str(pid)
    assert '"area_unit_id", "budget", "title"' in entries[0].detail


def test_patch_refuses_bad_fields_and_roles(
    client: TestClient, session: Session, admin: dict[str, str]
) -> None:
    [pid] = create_projects(client, admin, [800_000])
    url = f"/api/v1/projects/{pid}"
    for body, field in (
        ({"budget": 0}, "budget"),
        ({"title": "x"}, "title"),
        ({"status": "won"}, "status"),
        ({"category": "没有"}, "category"),
        ({"sponsor_unit_code": "nobody"}, "sponsor_unit_code"),
        ({"area_code": "nowhere"}, "area_code"),
        ({"colour": "red"}, "colour"),
    ):
        r = client.patch(url, json=body, headers=admin)
        assert r.status_code == 422, body
        assert r.json()["detail"][0]["loc"][-1] == field
    assert client.patch(url, json={"title": "新标题"}).status_code == 401
    evaluator = headers_for(client, session, Role.evaluator, "eva")
    assert client.patch(url, json={"title": "新标题"}, headers=evaluator).status_code == 403
    assert client.patch("/api/v1/projects/999", json={}, headers=admin).status_code == 404
    assert client.get(url).json()["title"] == "项目1"


def test_a_project_on_an_opened_vote_keeps_what_was_voted_on(
    client: TestClient, admin: dict[str, str], deputies: Electorate
) -> None:
    ids = create_projects(client, admin, [500_000, 700_000])
    sid = create_session(client, admin, session_payload(ids, deputies.names))
    # A draft session's slate may still be edited.
    url = f"/api/v1/projects/{ids[0]}"
    assert client.patch(url, json={"budget": 550_000}, headers=admin).status_code == 200
    act(client, admin, sid, "open")
    r = client.patch(url, json={"budget": 600_000}, headers=admin)
    assert r.status_code == 409
    ok = client.patch(url, json={"title_en": "Canteen", "budget": 550_000}, headers=admin)
    assert ok.status_code == 200 and ok.json()["title_en"] == "Canteen"
    assert client.get(url).json()["budget"] == 550_000


def test_shortlist_a_proposal_with_the_project_fields(
    client: TestClient, session: Session, admin: dict[str, str]
) -> None:
    pid = _proposal(session)
    proposal = session.get(Proposal, pid)
    assert proposal is not None
    draft = project_draft(session, proposal=proposal)
    assert draft == {
        "title": "小区加装电梯",
        "description": "老旧小区六层住宅。",
        "category": "养老",
        "area_code": "jianshe",
        "budget": 600_000,
    }
    url = f"/api/v1/proposals/{pid}/shortlist"
    body = draft | {"sponsor_unit_code": "civil", "title_en": "Lifts", "budget": 650_000}
    assert client.post(url, json=body).status_code == 401
    evaluator = headers_for(client, session, Role.evaluator, "eva")
    assert client.post(url, json=body, headers=evaluator).status_code == 403
    bad = client.post(url, json=body | {"sponsor_unit_code": "nobody"}, headers=admin)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][-1] == "sponsor_unit_code"
    bad = client.post(url, json=body | {"budget": 0}, headers=admin)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][-1] == "budget"
    r = client.post(url, json=body, headers=admin)
    assert r.status_code == 201, r.text
    project = client.get(f"/api/v1/projects/{r.json()['id']}").json()
    assert project["title"] == "小区加装电梯" and project["title_en"] == "Lifts"
    assert project["budget"] == 650_000 and project["area_code"] == "jianshe"
    session.expire_all()
    proposal = session.get(Proposal, pid)
    assert proposal is not None and proposal.status == ProposalStatus.shortlisted
    assert proposal.project_id == r.json()["id"]
    assert client.post(url, json=body, headers=admin).status_code == 409
    [entry] = _audit(session, "proposal.shortlist")
    assert entry.target == str(pid) and f'"project_id": {proposal.project_id}' in entry.detail
    assert client.post("/api/v1/proposals/999/shortlist", json=body, headers=admin).status_code == (
        404
    )


def test_merge_carries_supports_and_hides_the_duplicate(
    client: TestClient, session: Session, admin: dict[str, str]
) -> None:
    kept, duplicate = _proposal(session), _proposal(session, title="加装电梯")
    for pid in (kept, duplicate):
        r = client.post(
            f"/api/v1/proposals/{pid}/review", json={"action": "approve"}, headers=admin
        )
        assert r.status_code == 200
    for token in ("a" * 20, "b" * 20):
        client.cookies.set("minyi_client", token)
        assert client.post(f"/api/v1/proposals/{duplicate}/support").status_code == 201
    client.cookies.set("minyi_client", "a" * 20)
    assert client.post(f"/api/v1/proposals/{kept}/support").status_code == 201
    r = client.post(
        f"/api/v1/proposals/{duplicate}/review",
        json={"action": "merge", "merge_into": kept},
        headers=admin,
    )
    assert r.status_code == 200 and r.json()["merged_into_id"] == kept
    # Support keys are per proposal (a supporter cannot be followed across proposals), so a
    # browser that supported both is not recognised: every support moves over.
    public = {p["id"]: p for p in client.get("/api/v1/proposals?status=open").json()}
    assert public[kept]["support_count"] == 3 and duplicate not in public
