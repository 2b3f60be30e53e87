"""The console's pages in the test client: who may open them, the overview's numbers, and the
accounts page's writes (CSRF-checked, audited, with field errors beside the field)."""

# ruff: noqa: F811  (pytest fixtures imported from tests/surveys/forms/fixtures.py)

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from frontend.pages.admin.overview import WAITING
from frontend.pages.admin.users import initial_password
from service.audit import AuditEntry
from service.auth import SESSION_COOKIE, csrf_token_for, user_for_token
from service.models import Role, User
from service.passwords import password_problem
from surveys.voting.ballots import cast_ballot
from surveys.voting.models import BallotIn, Proposal, ProposalStatus, VotingSession
from tests.conftest import SECRETS
from tests.factories import PASSWORD, make_user
from tests.frontend.test_voting_pages import build, cookie_for
from tests.surveys.forms.factories import create_campaign, response_body
from tests.surveys.forms.fixtures import World, admin, world  # noqa: F401 (fixtures used here)

CONSOLE_PAGES = ("/admin", "/admin/users")


def as_user(app: FastAPI, client: TestClient, user: User) -> str:
    """Log the client in with a page session; returns the page's CSRF token."""
    cookie = cookie_for(app, user)
    client.cookies.set(SESSION_COOKIE, cookie)
    return csrf_token_for(app.state.settings, cookie)


def audit_actions(session: Session) -> list[tuple[str, str, str]]:
    session.expire_all()
    rows = session.exec(select(AuditEntry).order_by(col(AuditEntry.id)))
    return [(e.actor, e.action, e.target) for e in rows]


def field_errors(html: str) -> dict[str, str]:
    return dict(re.findall(r'<span class="field-error" id="err-(\w+)">([^<]*)</span>', html))


def page_login(client: TestClient, username: str) -> str:
    """Log in through the login form with no `next`; returns where the browser is sent."""
    page = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    form = {"username": username, "password": PASSWORD, "csrf_token": token.group(1)}
    r = client.post("/login", data=form, follow_redirects=False)
    assert r.status_code == 303
    SECRETS.add(r.cookies.get(SESSION_COOKIE) or "")
    return r.headers["location"]


def test_anonymous_visitors_are_sent_to_the_login_page(client: TestClient) -> None:
    for path in CONSOLE_PAGES:
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303
        assert r.headers["location"].startswith(f"/login?next={path.replace('/', '%2F')}")
    r = client.post("/admin/users", data={"username": "x"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=%2Fadmin")


@pytest.mark.parametrize("role", [Role.evaluator, Role.deputy])
def test_evaluators_and_deputies_get_the_403_page(
    app: FastAPI, client: TestClient, session: Session, role: Role
) -> None:
    user = make_user(session, role)
    csrf = as_user(app, client, user)
    for path in CONSOLE_PAGES:
        r = client.get(path)
        assert r.status_code == 403
        assert "您没有权限查看此页面" in r.text and user.username in r.text
        assert 'href="/admin"' not in r.text  # no console link in their header
    r = client.post(
        "/admin/users",
        data={"csrf_token": csrf, "username": "sneaky", "role": "admin", "password": "x" * 12},
    )
    assert r.status_code == 403
    assert session.exec(select(User).where(User.username == "sneaky")).first() is None


def test_admin_gets_the_console_and_lands_on_it_after_login(
    client: TestClient, session: Session
) -> None:
    make_user(session, Role.admin, "boss")
    make_user(session, Role.evaluator, "reader")
    make_user(session, Role.organisation, "zuzhibu")
    assert page_login(client, "reader") == "/"
    assert 'href="/admin"' not in client.get("/").text
    client.cookies.clear()
    # The organisation department lands on the part of the console it may open.
    assert page_login(client, "zuzhibu") == "/admin/evaluations"
    assert client.get("/admin/evaluations").status_code == 200
    assert 'href="/admin/evaluations" class="admin-link"' in client.get("/").text
    client.cookies.clear()
    assert page_login(client, "boss") == "/admin"
    home = client.get("/")
    assert 'href="/admin" class="admin-link"' in home.text
    r = client.get("/admin")
    assert r.status_code == 200 and "管理后台" in r.text
    for href in (
        "/admin/units",
        "/admin/surveys",
        "/admin/campaigns",
        "/admin/projects",
        "/admin/proposals",
        "/admin/voting-sessions",
        "/admin/users",
        "/admin/audit",
    ):
        assert f'href="{href}"' in r.text
    assert 'aria-current="page" class="current">概览' in r.text
    en = client.get("/admin/users?lang=en")
    assert en.status_code == 200 and "Accounts" in en.text and "New account" in en.text


def test_overview_shows_open_work(
    app: FastAPI, client: TestClient, session: Session, world: World
) -> None:
    open_cid = world.campaign_id
    for _ in range(3):
        r = client.post(f"/api/v1/campaigns/{open_cid}/responses", json=response_body())
        assert r.status_code == 201, r.text
    inv_cid = create_campaign(
        client, world.admin, world.survey_id, access="invitation", title="邀请制评议"
    )
    r = client.post(
        f"/api/v1/campaigns/{inv_cid}/invitations", json={"count": 8}, headers=world.admin
    )
    codes = r.json()["codes"]
    SECRETS.update(codes)
    for code in codes[:3]:
        body = response_body(invitation_code=code)
        assert client.post(f"/api/v1/campaigns/{inv_cid}/responses", json=body).status_code == 201

    vote = build(app)
    with Session(app.state.engine) as s:
        vs = s.get(VotingSession, vote.sid)
        assert vs is not None
        for deputy in vote.deputies[:2]:
            receipt = cast_ballot(
                s,
                vs=vs,
                user=deputy,
                data=BallotIn(choices={str(p): "abstain" for p in vote.project_ids}),
            )
            SECRETS.add(receipt.receipt)
        for i in range(4):
            status = ProposalStatus(WAITING) if i < 3 else ProposalStatus.rejected
            s.add(Proposal(title=f"建议{i}", category="环境", status=status))
        s.commit()

    as_user(app, client, vote.admin)
    html = client.get("/admin").text
    # Recomputed from what this test did: 3 of 8 codes used, 2 of 7 deputies voted.
    assert f"{3 / 8 * 100:.1f}%" in html and "(3/8)" in html
    assert f"{2 / 7 * 100:.1f}%" in html and "(2/7)" in html
    rows = re.findall(
        r'<a href="/admin/campaigns/(\d+)">[^<]*</a></td>\s*<td[^>]*>(\d+)</td>', html
    )
    assert sorted(rows) == sorted([(str(open_cid), "3"), (str(inv_cid), "3")])
    assert "公开参与（无邀请码）" in html
    assert '<strong class="big-number">3</strong>' in html and "共 4 条建议" in html
    assert "<code>voting_session.open</code>" in html  # among the newest audit events
    assert "2027年民生实事项目票决" in html


def test_create_account_with_field_errors_kept_in_place(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    admin = make_user(session, Role.admin, "boss")
    csrf = as_user(app, client, admin)
    before = audit_actions(session)
    form = {
        "csrf_token": csrf,
        "username": "a",
        "display_name": "王代表",
        "role": "deputy",
        "password": "short",
    }
    r = client.post("/admin/users", data=form)
    assert r.status_code == 422
    errors = field_errors(r.text)
    assert errors["password"] == "密码至少需要 10 个字符。"
    assert "用户名须为" in errors["username"]
    assert 'name="username" value="a"' in r.text and 'value="王代表"' in r.text
    assert 'aria-invalid="true" aria-describedby="err-password"' in r.text
    assert '<option value="deputy" selected>' in r.text

    common = client.post(
        "/admin/users", data=form | {"username": "wang", "password": "password123"}
    )
    assert common.status_code == 422
    assert field_errors(common.text) == {"password": "这是常见密码，容易被猜中，请换一个。"}
    en = client.post("/admin/users?lang=en", data=form | {"username": "wang"})
    assert field_errors(en.text)["password"] == "The password needs at least 10 characters."

    good = form | {"username": "wang", "password": "lantern-river-42"}
    r = client.post("/admin/users", data=good, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/admin/users?done=created")
    assert "已创建账号 wang" in client.get(r.headers["location"] + "&lang=zh-CN").text
    taken = client.post("/admin/users", data=good)
    assert taken.status_code == 409
    assert field_errors(taken.text) == {"username": "这个用户名已被使用，请换一个。"}
    created = session.exec(select(User).where(User.username == "wang")).one()
    assert created.role == Role.deputy and created.display_name == "王代表"
    assert audit_actions(session)[len(before) :] == [("boss", "user.create", "wang")]


def test_csrf_is_required_on_every_write(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    admin = make_user(session, Role.admin, "boss")
    other = make_user(session, Role.deputy, "dep")
    as_user(app, client, admin)
    before = audit_actions(session)
    writes = [
        ("/admin/users", {"username": "x1", "role": "deputy", "password": "lantern-river-42"}),
        (f"/admin/users/{other.id}/active", {"active": "0"}),
        (f"/admin/users/{other.id}/role", {"role": "admin"}),
        (f"/admin/users/{other.id}/password", {}),
    ]
    for path, data in writes:
        for token in (None, "wrong"):
            sent = data if token is None else data | {"csrf_token": token}
            r = client.post(path, data=sent)
            assert r.status_code == 403, path
    session.expire_all()
    dep = session.get(User, other.id)
    assert dep is not None and dep.is_active and dep.role == Role.deputy
    assert audit_actions(session) == before


def test_reset_deactivate_reactivate_and_role_are_audited(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    admin = make_user(session, Role.admin, "boss")
    dep = make_user(session, Role.deputy, "dep")
    dep_id = dep.id
    dep_cookie = cookie_for(app, dep)
    csrf = as_user(app, client, admin)
    before = audit_actions(session)

    r = client.post(f"/admin/users/{dep_id}/password", data={"csrf_token": csrf})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    shown = re.search(r'data-testid="one-time-password">([^<]+)<', r.text)
    assert shown
    password = shown.group(1)
    SECRETS.add(password)
    assert re.fullmatch(r"[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}", password)
    # The old page session is revoked; the new password logs in.
    session.expire_all()
    assert user_for_token(session, dep_cookie) is None
    token = client.post("/api/v1/auth/token", data={"username": "dep", "password": password})
    assert token.status_code == 200
    SECRETS.add(token.json()["access_token"])
    # Shown once: the list page does not carry it.
    assert password not in client.get("/admin/users").text

    r = client.post(f"/admin/users/{dep_id}/active", data={"csrf_token": csrf, "active": "0"})
    assert r.status_code == 200 and "已停用账号 dep" in r.text
    refused = client.post("/api/v1/auth/token", data={"username": "dep", "password": password})
    assert refused.status_code == 401
    r = client.post(f"/admin/users/{dep_id}/active", data={"csrf_token": csrf, "active": "1"})
    assert "已重新启用账号 dep" in r.text
    r = client.post(f"/admin/users/{dep_id}/role", data={"csrf_token": csrf, "role": "evaluator"})
    assert "已修改账号 dep 的角色" in r.text
    bad = client.post(f"/admin/users/{dep_id}/role", data={"csrf_token": csrf, "role": "king"})
    assert bad.status_code == 422 and "请选择角色" in bad.text

    # An admin cannot lock themselves out.
    mine = client.post(f"/admin/users/{admin.id}/active", data={"csrf_token": csrf, "active": "0"})
    assert mine.status_code == 409 and "不能停用自己的账号" in mine.text
    assert client.post("/admin/users/9999/role", data={"csrf_token": csrf}).status_code == 404

    session.expire_all()
    stored = session.get(User, dep_id)
    assert stored is not None and stored.is_active and stored.role == Role.evaluator
    assert audit_actions(session)[len(before) :] == [
        ("boss", "user.update", "dep"),
        ("boss", "user.deactivate", "dep"),
        ("boss", "user.update", "dep"),
        ("boss", "user.update", "dep"),
    ]
    detail = session.exec(select(AuditEntry.detail).order_by(col(AuditEntry.id))).all()
    assert password not in " ".join(detail)


def test_list_search_and_office_time(app: FastAPI, client: TestClient, session: Session) -> None:
    admin = make_user(session, Role.admin, "boss")
    make_user(session, Role.deputy, "wang.dep")
    make_user(session, Role.evaluator, "li.eval")
    as_user(app, client, admin)
    page = client.get("/admin/users")

    def listed(html: str) -> list[str]:
        return re.findall(r'data-username="([^"]+)"', html)

    assert listed(page.text) == ["boss", "wang.dep", "li.eval"]
    assert listed(client.get("/admin/users?q=WANG").text) == ["wang.dep"]
    assert listed(client.get("/admin/users?role=evaluator").text) == ["li.eval"]
    assert listed(client.get("/admin/users?active=0").text) == []
    # Created times read in the office's zone (Asia/Shanghai, UTC+8).
    stored = session.exec(select(User).where(User.username == "li.eval")).one()
    at = stored.created_at if stored.created_at.tzinfo else stored.created_at.replace(tzinfo=UTC)
    local = at.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")
    assert local in page.text
    assert at.astimezone(UTC).strftime("%H:%M") != local[-5:]


def test_initial_passwords_pass_the_rule_and_differ() -> None:
    seen = {initial_password() for _ in range(50)}
    assert len(seen) == 50
    assert all(password_problem(p) is None for p in seen)
    assert all(not set(p) & set("01OIL") for p in seen)


def test_times_follow_the_office_time_zone_setting(make_app: Callable[..., FastAPI]) -> None:
    app = make_app(time_zone="America/New_York")
    with TestClient(app) as client, Session(app.state.engine) as session:
        admin = make_user(session, Role.admin, "boss")
        at = admin.created_at if admin.created_at.tzinfo else admin.created_at.replace(tzinfo=UTC)
        as_user(app, client, admin)
        page = client.get("/admin/users").text
    local = at.astimezone(ZoneInfo("America/New_York")).strftime("%Y-%m-%d %H:%M")
    assert f'data-label="创建时间">{local}</td>' in page
