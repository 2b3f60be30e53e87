"""Projects, progress updates and residents' proposals (support once each, rate limits,
admin review)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from service.audit import AuditEntry
from service.models import Role
from surveys.voting.models import ProposalSupport
from tests.factories import headers_for
from tests.surveys.voting.conftest import Electorate
from tests.surveys.voting.factories import (
    act,
    create_projects,
    create_session,
    make_units,
    project_payload,
    session_payload,
    vote,
)


@pytest.fixture
def app(make_app: Callable[..., FastAPI]) -> FastAPI:
    """Proposals published at once: these tests are about support and review; moderation
    (waiting for approval, the default) is tested in test_moderation."""
    return make_app(proposals_need_approval=False)


PROPOSAL = {
    "title": "小区加装电梯",
    "description": "老旧小区六层住宅，老人上下楼困难。",
    "category": "养老",
    "area_code": "jianshe",
    "rough_cost": 600000,
}


# --- projects -------------------------------------------------------------------------------


def test_create_and_read_projects(client: TestClient, admin: dict[str, str]) -> None:
    r = client.post("/api/v1/projects", json=project_payload(), headers=admin)
    assert r.status_code == 201
    pid = r.json()["id"]
    one = client.get(f"/api/v1/projects/{pid}").json()
    assert one["title"] == "社区老年食堂" and one["budget"] == 1_200_000
    assert one["sponsor_unit_code"] == "civil" and one["sponsor_name"] == "民政局"
    assert one["area_code"] == "jianshe" and one["status"] == "proposed" and one["updates"] == []
    assert [p["id"] for p in client.get("/api/v1/projects").json()] == [pid]
    assert client.get("/api/v1/projects?status=selected").json() == []
    assert client.get("/api/v1/projects/999").status_code == 404


def test_create_project_needs_admin_and_valid_fields(
    client: TestClient, session: Session, admin: dict[str, str]
) -> None:
    assert client.post("/api/v1/projects", json=project_payload()).status_code == 401
    evaluator = headers_for(client, session, Role.evaluator, "eva")
    assert (
        client.post("/api/v1/projects", json=project_payload(), headers=evaluator).status_code
        == 403
    )
    for bad, field in (
        ({"category": "体育馆"}, "category"),
        ({"sponsor_unit_code": "nope"}, "sponsor_unit_code"),
        ({"area_code": "nowhere"}, "area_code"),
        ({"budget": 0}, "budget"),
        ({"budget": "lots"}, "budget"),
        ({"title": ""}, "title"),
    ):
        r = client.post("/api/v1/projects", json=project_payload(**bad), headers=admin)
        assert r.status_code == 422, bad
        assert r.json()["detail"][0]["loc"] == ["body", field], r.json()


def test_progress_updates_only_for_selected_projects(
    client: TestClient, session: Session, admin: dict[str, str], deputies: Electorate
) -> None:
    ids = create_projects(client, admin, [1_000_000, 5_000_000])
    update = {"date": "2027-03-01", "percent_done": 30, "note": "完成选址"}
    url = f"/api/v1/projects/{ids[0]}/updates"
    assert client.post(url, json=update, headers=admin).status_code == 409  # not selected yet
    sid = create_session(client, admin, session_payload(ids, deputies.names, budget_cap=2_000_000))
    act(client, admin, sid, "open")
    for h in deputies.headers[:4]:
        vote(client, h, sid, {ids[0]: "for", ids[1]: "for"})
    act(client, admin, sid, "close")
    act(client, admin, sid, "publish")
    assert client.post(url, json=update).status_code == 401
    assert client.post(url, json=update, headers=deputies.headers[0]).status_code == 403
    assert (
        client.post("/api/v1/projects/999/updates", json=update, headers=admin).status_code == 404
    )
    for bad in ({"percent_done": 101}, {"percent_done": -1}, {"date": "yesterday"}):
        assert client.post(url, json=update | bad, headers=admin).status_code == 422
    r = client.post(url, json=update, headers=admin)
    assert r.status_code == 201 and r.json()["percent_done"] == 30
    p = client.get(f"/api/v1/projects/{ids[0]}").json()
    assert (
        p["status"] == "in_progress"
        and p["percent_done"] == 30
        and p["unit_code"] == f"project-{ids[0]}"
    )
    client.post(
        url, json={"date": "2027-11-20", "percent_done": 100, "note": "投入使用"}, headers=admin
    )
    # An older report filed later does not undo the newer one.
    client.post(url, json={"date": "2027-05-01", "percent_done": 50}, headers=admin)
    p = client.get(f"/api/v1/projects/{ids[0]}").json()
    assert p["status"] == "completed" and p["percent_done"] == 100
    assert [u["percent_done"] for u in p["updates"]] == [100, 50, 30]
    assert (
        client.post(f"/api/v1/projects/{ids[1]}/updates", json=update, headers=admin).status_code
        == 409
    )
    progress = session.exec(select(AuditEntry).where(AuditEntry.action == "project.progress")).all()
    assert len(progress) == 3


# --- proposals ------------------------------------------------------------------------------


def test_propose_and_list(client: TestClient, admin: dict[str, str]) -> None:
    r = client.post("/api/v1/proposals", json=PROPOSAL)
    assert r.status_code == 201, r.text
    body = r.json()
    assert (
        body["status"] == "open" and body["support_count"] == 0 and body["area_name"] == "建设街道"
    )
    assert "minyi_client" in r.cookies
    listed = client.get("/api/v1/proposals").json()
    assert [p["id"] for p in listed] == [body["id"]]
    for bad in ({"category": "星际"}, {"title": ""}, {"area_code": "moon"}, {"rough_cost": -5}):
        assert client.post("/api/v1/proposals", json=PROPOSAL | bad).status_code == 422, bad


def test_support_once_per_browser(app: FastAPI, client: TestClient, session: Session) -> None:
    make_units(session)
    pid = client.post("/api/v1/proposals", json=PROPOSAL).json()["id"]
    url = f"/api/v1/proposals/{pid}/support"
    r = client.post(url)
    assert r.status_code == 201 and r.json() == {"proposal_id": pid, "support_count": 1}
    r = client.post(url)
    assert r.status_code == 409 and "already" in r.text
    # A second browser (its own cookie) counts; one without any cookie is refused.
    with TestClient(app) as other:
        other.get("/api/v1/proposals")
        assert other.post(url).json()["support_count"] == 2
    with TestClient(app) as bare:
        r = bare.post(url)
        assert r.status_code == 403 and "cookie" in r.text
    assert client.post("/api/v1/proposals/999/support").status_code == 404
    # Only keyed hashes are stored: not the cookie itself.
    cookie = client.cookies.get("minyi_client")
    assert cookie and all(
        cookie not in s.supporter_key for s in session.exec(select(ProposalSupport))
    )


def test_proposals_and_supports_are_rate_limited(make_app: Callable[..., FastAPI]) -> None:
    app = make_app(rate_limit="2/minute")
    with TestClient(app) as client, Session(app.state.engine) as s:
        make_units(s)
        assert client.post("/api/v1/proposals", json=PROPOSAL).status_code == 201
        assert client.post("/api/v1/proposals", json=PROPOSAL).status_code == 201
        r = client.post("/api/v1/proposals", json=PROPOSAL)
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert client.post("/api/v1/proposals/1/support").status_code == 429


def test_admin_review_merge_reject_shortlist(
    client: TestClient, session: Session, admin: dict[str, str]
) -> None:
    a = client.post("/api/v1/proposals", json=PROPOSAL).json()["id"]
    b = client.post("/api/v1/proposals", json=PROPOSAL | {"title": "加装电梯（重复）"}).json()["id"]
    c = client.post("/api/v1/proposals", json=PROPOSAL | {"title": "广场舞噪音"}).json()["id"]
    client.post(f"/api/v1/proposals/{b}/support")
    review = f"/api/v1/proposals/{b}/review"
    assert client.post(review, json={"action": "reject"}).status_code == 401
    evaluator = headers_for(client, session, Role.evaluator, "eva")
    assert client.post(review, json={"action": "reject"}, headers=evaluator).status_code == 403
    assert (
        client.post(
            "/api/v1/proposals/999/review", json={"action": "reject"}, headers=admin
        ).status_code
        == 404
    )
    assert client.post(review, json={"action": "promote"}, headers=admin).status_code == 422
    assert (
        client.post(review, json={"action": "merge", "merge_into": b}, headers=admin).status_code
        == 422
    )

    r = client.post(
        review, json={"action": "merge", "merge_into": a, "note": "重复"}, headers=admin
    )
    assert (
        r.status_code == 200 and r.json()["status"] == "merged" and r.json()["merged_into_id"] == a
    )
    assert client.get("/api/v1/proposals?status=open").json()[0]["support_count"] == 1  # moved to a
    r = client.post(f"/api/v1/proposals/{c}/review", json={"action": "reject"}, headers=admin)
    assert r.json()["status"] == "rejected"
    assert c not in [p["id"] for p in client.get("/api/v1/proposals").json()]
    r = client.post(f"/api/v1/proposals/{a}/review", json={"action": "shortlist"}, headers=admin)
    assert r.status_code == 422  # needs a budget and a sponsor
    r = client.post(
        f"/api/v1/proposals/{a}/review",
        json={
            "action": "shortlist",
            "budget": 800_000,
            "sponsor_unit_code": "civil",
            "title_en": "Lifts",
        },
        headers=admin,
    )
    assert r.status_code == 200 and r.json()["status"] == "shortlisted"
    project = client.get(f"/api/v1/projects/{r.json()['project_id']}").json()
    assert project["title"] == PROPOSAL["title"] and project["budget"] == 800_000
    assert project["area_code"] == "jianshe" and project["title_en"] == "Lifts"
    assert (
        client.post(
            f"/api/v1/proposals/{a}/review", json={"action": "reject"}, headers=admin
        ).status_code
        == 409
    )
    assert client.post(f"/api/v1/proposals/{a}/support").status_code == 409  # no longer open
    actions = {e.action for e in session.exec(select(AuditEntry))}
    assert {"proposal.merge", "proposal.reject", "proposal.shortlist"} <= actions
