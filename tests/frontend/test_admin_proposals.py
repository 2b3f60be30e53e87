"""The console's moderation queue, /admin/proposals: the page for an admin, the 403 page for
an evaluator or deputy, the login page for an anonymous visitor; each decision confirmed on
its own page, CSRF-checked, audited, with field errors shown beside the field."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from service.audit import AuditEntry
from service.auth import SESSION_COOKIE, csrf_token_for, issue_token
from service.models import Role, User
from surveys.voting.models import Proposal, ProposalCreate, ProposalStatus
from surveys.voting.proposals import create_proposal
from tests.conftest import SECRETS
from tests.factories import make_user
from tests.surveys.voting.factories import make_units


def cookie_for(app: FastAPI, user: User) -> str:
    with Session(app.state.engine) as s:
        raw, _ = issue_token(s, user=user, settings=app.state.settings, kind="cookie")
        s.commit()
    SECRETS.add(raw)
    return raw


def seed(app: FastAPI) -> tuple[User, list[int]]:
    """An admin, and three waiting proposals and one approved."""
    with Session(app.state.engine, expire_on_commit=False) as s:
        make_units(s)
        admin = make_user(s, Role.admin, "admin")
        ids = []
        for title, need in (
            ("加装电梯", True),
            ("老年食堂", True),
            ("路灯", True),
            ("公园", False),
        ):
            data = ProposalCreate(title=title, category="养老", area_code="jianshe")
            ids.append(create_proposal(s, data=data, need_approval=need).id or 0)
        s.commit()
    return admin, ids


def sign_in(app: FastAPI, client: TestClient, user: User) -> str:
    cookie = cookie_for(app, user)
    client.cookies.set(SESSION_COOKIE, cookie)
    return csrf_token_for(app.state.settings, cookie)


def state_of(app: FastAPI, pid: int) -> str:
    with Session(app.state.engine) as s:
        p = s.get(Proposal, pid)
        assert p is not None
        return ProposalStatus(p.status).value


def test_who_gets_the_page(app: FastAPI, client: TestClient) -> None:
    admin, ids = seed(app)
    r = client.get("/admin/proposals", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith(
        "/login?next=%2Fadmin%2Fproposals"
    )
    for role in (Role.evaluator, Role.deputy):
        with Session(app.state.engine, expire_on_commit=False) as s:
            other = make_user(s, role, f"u-{role.value}")
        sign_in(app, client, other)
        r = client.get("/admin/proposals")
        assert r.status_code == 403 and "text/html" in r.headers["content-type"]
        assert "没有权限" in r.text
        assert client.get(f"/admin/proposals/{ids[0]}/approve").status_code == 403
    sign_in(app, client, admin)
    r = client.get("/admin/proposals")
    assert r.status_code == 200 and "居民建议审核" in r.text and "待审核 3 条" in r.text
    # Waiting ones first (newest first among them), then the approved one.
    order = [int(i) for i in re.findall(r'id="proposal-(\d+)"', r.text)]
    assert order == [ids[2], ids[1], ids[0], ids[3]]
    only = client.get("/admin/proposals?state=open")
    assert re.findall(r'id="proposal-(\d+)"', only.text) == [str(ids[3])]
    assert f'href="/admin/proposals/{ids[0]}/approve"' in r.text
    english = client.get("/admin/proposals?lang=en")
    assert "Proposal moderation" in english.text and "3 waiting for review" in english.text
    assert client.get("/admin/proposals/999/approve").status_code == 404


def test_approve_through_the_confirmation_form(app: FastAPI, client: TestClient) -> None:
    admin, ids = seed(app)
    csrf = sign_in(app, client, admin)
    confirm = client.get(f"/admin/proposals/{ids[0]}/approve")
    assert confirm.status_code == 200 and "确认通过这条建议" in confirm.text
    assert f'name="csrf_token" value="{csrf}"' in confirm.text
    assert "加装电梯" not in client.get("/projects").text  # waiting: not public
    r = client.post(
        f"/admin/proposals/{ids[0]}/approve", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"].startswith(
        "/admin/proposals?done=approve"
    )
    assert state_of(app, ids[0]) == "open"
    assert "已通过，建议已公开" in client.get(r.headers["location"]).text
    assert "加装电梯" in client.get("/projects").text
    with Session(app.state.engine) as s:
        entry = s.exec(select(AuditEntry).where(AuditEntry.action == "proposal.approve")).one()
        assert entry.actor == "admin" and entry.target == str(ids[0])
    # Approving twice is refused on the form, in words, and changes nothing.
    again = client.post(f"/admin/proposals/{ids[0]}/approve", data={"csrf_token": csrf})
    assert again.status_code == 422 and "状态已经改变" in again.text


def test_a_write_without_the_csrf_token_is_refused(app: FastAPI, client: TestClient) -> None:
    admin, ids = seed(app)
    sign_in(app, client, admin)
    for token in ("", "forged"):
        r = client.post(f"/admin/proposals/{ids[0]}/approve", data={"csrf_token": token})
        assert r.status_code == 403
    assert state_of(app, ids[0]) == "pending"
    with Session(app.state.engine) as s:
        actions = [e.action for e in s.exec(select(AuditEntry))]
        assert not [a for a in actions if a.startswith("proposal.")]


def test_reject_merge_and_shortlist_with_field_errors(app: FastAPI, client: TestClient) -> None:
    admin, ids = seed(app)
    csrf = sign_in(app, client, admin)
    r = client.post(
        f"/admin/proposals/{ids[0]}/reject",
        data={"csrf_token": csrf, "note": "不属于民生实事范围"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and state_of(app, ids[0]) == "rejected"
    # Merge with no target: the error beside the field, the input kept.
    bad = client.post(
        f"/admin/proposals/{ids[1]}/merge", data={"csrf_token": csrf, "note": "重复的建议"}
    )
    assert bad.status_code == 422 and 'id="e-merge_into"' in bad.text
    assert 'value="重复的建议"' in bad.text and state_of(app, ids[1]) == "pending"
    r = client.post(
        f"/admin/proposals/{ids[1]}/merge",
        data={"csrf_token": csrf, "merge_into": str(ids[3])},
        follow_redirects=False,
    )
    assert r.status_code == 303 and state_of(app, ids[1]) == "merged"
    # Shortlist: a budget that is not a number and an unknown sponsor, both named.
    bad = client.post(
        f"/admin/proposals/{ids[2]}/shortlist",
        data={"csrf_token": csrf, "budget": "很多", "sponsor_unit_code": "civil"},
    )
    assert bad.status_code == 422 and 'id="e-budget"' in bad.text and 'value="很多"' in bad.text
    bad = client.post(
        f"/admin/proposals/{ids[2]}/shortlist",
        data={"csrf_token": csrf, "budget": "500000", "sponsor_unit_code": "nobody"},
    )
    assert bad.status_code == 422 and 'id="e-sponsor_unit_code"' in bad.text
    assert state_of(app, ids[2]) == "pending"
    r = client.post(
        f"/admin/proposals/{ids[2]}/shortlist",
        data={"csrf_token": csrf, "budget": "500000", "sponsor_unit_code": "civil"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and state_of(app, ids[2]) == "shortlisted"
    with Session(app.state.engine) as s:
        actions = [e.action for e in s.exec(select(AuditEntry).order_by(AuditEntry.id))]  # type: ignore[arg-type]
    assert [a for a in actions if a.startswith("proposal.")] == [
        "proposal.reject",
        "proposal.merge",
        "proposal.shortlist",
    ]
