"""The console's projects, /admin/projects: the list with status, budget, unit and sessions;
create, shortlist a proposal through the pre-filled form, edit, report progress; each write
CSRF-checked and audited, with field errors beside the field (422) and conflicts as 409."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from service.audit import AuditEntry
from service.models import Role, User
from surveys.voting.models import (
    Project,
    ProjectCreate,
    ProjectStatus,
    Proposal,
    ProposalCreate,
    ProposalStatus,
    SessionProject,
    SessionState,
    VotingSession,
)
from surveys.voting.projects import create_project
from surveys.voting.proposals import create_proposal
from tests.factories import make_user
from tests.frontend.test_admin_proposals import sign_in
from tests.surveys.voting.factories import make_units

FORM = {
    "title": "社区老年食堂",
    "title_en": "Canteen",
    "description": "两处助餐点。",
    "description_en": "",
    "category": "养老",
    "budget": "1200000",
    "sponsor_unit_code": "civil",
    "area_code": "jianshe",
}


def seed(app: FastAPI) -> tuple[int, int]:
    """Units, an admin, a project on a draft session, and an approved proposal."""
    with Session(app.state.engine, expire_on_commit=False) as s:
        make_units(s)
        make_user(s, Role.admin, "admin")
        project = create_project(
            s,
            data=ProjectCreate(
                title="路灯改造", category="安全", budget=300_000, sponsor_unit_code="edu"
            ),
        )
        vs = VotingSession(title="2027年票决", year=2027, state=SessionState.draft)
        s.add(vs)
        s.flush()
        s.add(SessionProject(session_id=vs.id or 0, project_id=project.id or 0, position=0))
        data = ProposalCreate(
            title="小区加装电梯",
            description="六层住宅",
            category="养老",
            area_code="heping",
            rough_cost=600_000,
        )
        proposal = create_proposal(s, data=data)
        s.commit()
        return project.id or 0, proposal.id or 0


def admin_in(app: FastAPI, client: TestClient) -> str:
    with Session(app.state.engine) as s:
        admin = s.exec(select(User).where(User.username == "admin")).first()
    assert admin is not None
    return sign_in(app, client, admin)


def actions(app: FastAPI) -> list[str]:
    with Session(app.state.engine) as s:
        return [e.action for e in s.exec(select(AuditEntry).order_by(AuditEntry.id))]  # type: ignore[arg-type]


def test_who_gets_the_page_and_the_list(app: FastAPI, client: TestClient) -> None:
    pid, _ = seed(app)
    r = client.get("/admin/projects", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith(
        "/login?next=%2Fadmin%2Fprojects"
    )
    for role in (Role.evaluator, Role.deputy):
        with Session(app.state.engine, expire_on_commit=False) as s:
            other = make_user(s, role, f"u-{role.value}")
        csrf = sign_in(app, client, other)
        for path in ("/admin/projects", f"/admin/projects/{pid}", "/admin/projects/new"):
            r = client.get(path)
            assert r.status_code == 403 and "text/html" in r.headers["content-type"], path
        r = client.post(f"/admin/projects/{pid}", data=FORM | {"csrf_token": csrf})
        assert r.status_code == 403
    admin_in(app, client)
    r = client.get("/admin/projects")
    assert r.status_code == 200 and "民生实事项目" in r.text
    row = re.search(rf'<tr id="project-{pid}".*?</tr>', r.text, re.S)
    assert row is not None
    assert "路灯改造" in row[0] and "300,000" in row[0] and "教育局" in row[0]
    assert "2027年票决" in row[0] and "(草稿)" in row[0] and "候选" in row[0]
    assert 'id="project-' not in client.get("/admin/projects?status=selected").text
    assert "Livelihood projects" in client.get("/admin/projects?lang=en").text
    assert client.get("/admin/projects/999").status_code == 404


def test_create_with_field_errors_then_edit(app: FastAPI, client: TestClient) -> None:
    pid, _ = seed(app)
    csrf = admin_in(app, client)
    bad = client.post(
        "/admin/projects/new",
        data=FORM | {"csrf_token": csrf, "title": "x", "budget": "很多", "sponsor_unit_code": ""},
    )
    assert bad.status_code == 422 and 'id="err-budget"' in bad.text and 'value="很多"' in bad.text
    bad = client.post(
        "/admin/projects/new",
        data=FORM | {"csrf_token": csrf, "title": "x", "sponsor_unit_code": ""},
    )
    assert bad.status_code == 422
    assert 'id="err-title"' in bad.text and 'id="err-sponsor_unit_code"' in bad.text
    assert 'aria-describedby="err-title"' in bad.text and "两处助餐点" in bad.text
    assert (
        client.post("/admin/projects/new", data=FORM | {"csrf_token": "forged"}).status_code == 403
    )
    r = client.post("/admin/projects/new", data=FORM | {"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    new_id = int(r.headers["location"].split("/")[-1].split("?")[0])
    page = client.get(r.headers["location"])
    assert "项目已创建" in page.text and 'value="社区老年食堂"' in page.text
    # Edit: a refused budget keeps the input; then a change of status and area.
    edit = FORM | {"csrf_token": csrf, "status": "proposed"}
    bad = client.post(f"/admin/projects/{new_id}", data=edit | {"budget": "0"})
    assert bad.status_code == 422 and 'id="err-budget"' in bad.text and 'value="0"' in bad.text
    r = client.post(
        f"/admin/projects/{new_id}",
        data=edit | {"status": "selected", "area_code": "", "budget": "1,300,000"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"].endswith("done=saved")
    with Session(app.state.engine) as s:
        project = s.get(Project, new_id)
        assert project is not None and project.status == ProjectStatus.selected
        assert project.area_unit_id is None and project.budget == 1_300_000
    assert actions(app) == ["project.create", "project.update"]


def test_an_opened_vote_keeps_what_was_voted_on(app: FastAPI, client: TestClient) -> None:
    pid, _ = seed(app)
    csrf = admin_in(app, client)
    with Session(app.state.engine) as s:
        vs = s.exec(select(VotingSession)).one()
        vs.state = SessionState.open
        s.add(vs)
        s.commit()
    form = {
        "csrf_token": csrf,
        "title": "路灯改造",
        "category": "安全",
        "budget": "300000",
        "sponsor_unit_code": "edu",
        "status": "on_ballot",
    }
    r = client.post(f"/admin/projects/{pid}", data=form | {"budget": "400000"})
    assert r.status_code == 409 and 'id="err-form"' in r.text and 'value="400000"' in r.text
    r = client.post(f"/admin/projects/{pid}", data=form, follow_redirects=False)
    assert r.status_code == 303


def test_shortlist_a_proposal_through_the_prefilled_form(app: FastAPI, client: TestClient) -> None:
    _, prop = seed(app)
    csrf = admin_in(app, client)
    queue = client.get("/admin/proposals")
    assert f'href="/admin/projects/new?proposal={prop}"' in queue.text
    r = client.get(f"/admin/proposals/{prop}/shortlist", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/admin/projects/new?proposal={prop}"
    form = client.get(r.headers["location"])
    assert form.status_code == 200 and f'name="proposal" value="{prop}"' in form.text
    assert 'value="小区加装电梯"' in form.text and 'value="600000"' in form.text
    assert '<option value="heping" selected>' in form.text and "六层住宅</textarea>" in form.text
    data = {
        "csrf_token": csrf,
        "proposal": str(prop),
        "title": "小区加装电梯",
        "category": "养老",
        "budget": "650000",
        "area_code": "heping",
        "sponsor_unit_code": "",
    }
    bad = client.post("/admin/projects/new", data=data)
    assert bad.status_code == 422 and 'id="err-sponsor_unit_code"' in bad.text
    assert f'name="proposal" value="{prop}"' in bad.text
    with Session(app.state.engine) as s:
        assert s.get(Proposal, prop).status == ProposalStatus.open  # type: ignore[union-attr]
    r = client.post(
        "/admin/projects/new", data=data | {"sponsor_unit_code": "civil"}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"].endswith("done=shortlisted")
    with Session(app.state.engine) as s:
        proposal = s.get(Proposal, prop)
        assert proposal is not None and proposal.status == ProposalStatus.shortlisted
        project = s.get(Project, proposal.project_id)
        assert project is not None and project.budget == 650_000
    assert actions(app) == ["proposal.shortlist"]
    page = client.get(r.headers["location"])
    assert f'href="/admin/proposals#proposal-{prop}"' in page.text and "来自居民建议" in page.text
    assert "(已转为项目, 支持数 0)" in page.text
    # Twice: the form is gone, and a replayed post is a conflict.
    assert (
        client.get(f"/admin/projects/new?proposal={prop}", follow_redirects=False).status_code
        == 303
    )
    again = client.post("/admin/projects/new", data=data | {"sponsor_unit_code": "civil"})
    assert again.status_code == 409 and 'id="err-form"' in again.text


def test_progress_reports_reach_the_public_page(app: FastAPI, client: TestClient) -> None:
    pid, _ = seed(app)
    csrf = admin_in(app, client)
    url = f"/admin/projects/{pid}/updates"
    report = {"csrf_token": csrf, "date": "2027-03-01", "percent_done": "40", "note": "完成选址"}
    r = client.post(url, data=report)
    assert r.status_code == 409 and 'id="err-progress"' in r.text  # not selected yet
    with Session(app.state.engine) as s:
        project = s.get(Project, pid)
        assert project is not None
        project.status = ProjectStatus.selected
        s.add(project)
        s.commit()
    bad = client.post(url, data=report | {"date": "明天", "percent_done": "140"})
    assert bad.status_code == 422 and 'id="err-date"' in bad.text
    assert 'id="err-percent_done"' in bad.text and "完成选址" in bad.text
    r = client.post(url, data=report, follow_redirects=False)
    assert r.status_code == 303
    page = client.get(f"/admin/projects/{pid}")
    assert "所在票决：2027年票决 (草稿)" in page.text
    assert "2027-03-01" in page.text and "完成选址" in page.text and "实施中" in page.text
    public = client.get("/projects")
    assert "路灯改造" in public.text and "完成选址" in public.text
    assert actions(app)[-1] == "project.progress"
