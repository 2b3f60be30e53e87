"""The voting pages: the deputy's ballot with its review step and receipt, the public projects
page (propose, support, tracker) and the published results with the receipt check; in the
test client and in Chromium at 360 px."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from service.auth import SESSION_COOKIE, csrf_token_for, issue_token
from service.models import Role, User
from surveys.voting.ballots import cast_ballot
from surveys.voting.models import (
    BallotIn,
    Project,
    ProjectCreate,
    ProjectUpdateCreate,
    Proposal,
    ProposalReview,
    ProposalStatus,
    SessionCreate,
    VotingSession,
)
from surveys.voting.projects import IMPLEMENTATION, add_progress, create_project
from surveys.voting.proposals import review_proposal
from surveys.voting.sessions import close_session, create_session, open_session, publish_session
from tests.conftest import SECRETS
from tests.factories import make_user
from tests.surveys.voting.factories import make_deputies, make_units


@dataclass
class VoteWorld:
    sid: int
    project_ids: list[int]
    deputies: list[User]
    admin: User


def build(app: FastAPI, *, max_for: int | None = None) -> VoteWorld:
    with Session(app.state.engine, expire_on_commit=False) as s:
        make_units(s)
        admin = make_user(s, Role.admin, "admin")
        deputies = make_deputies(s, 7)
        titles = [
            ("社区老年食堂", "Community canteen", "养老", 1_200_000),
            ("学校周边交通改造", "Safer streets near schools", "交通", 2_500_000),
            ("口袋公园", "Pocket parks", "环境", 900_000),
            ("社区卫生服务站", "Community clinic", "医疗", 1_800_000),
        ]
        ids = [
            create_project(
                s,
                data=ProjectCreate(
                    title=t,
                    title_en=en,
                    description=f"{t}：具体实施内容说明，覆盖多个小区，惠及居民。",
                    category=c,
                    budget=b,
                    sponsor_unit_code="civil",
                    area_code="jianshe",
                ),
            ).id
            or 0
            for t, en, c, b in titles
        ]
        vs = create_session(
            s,
            data=SessionCreate(
                title="2027年民生实事项目票决",
                title_en="2027 livelihood projects vote",
                year=2027,
                project_ids=ids,
                deputy_usernames=[d.username for d in deputies],
                budget_cap=4_000_000,
                max_for_per_ballot=max_for,
            ),
            actor="admin",
        )
        open_session(s, vs=vs, actor="admin")
        s.commit()
        return VoteWorld(vs.id or 0, ids, deputies, admin)


def cookie_for(app: FastAPI, user: User) -> str:
    with Session(app.state.engine) as s:
        raw, _ = issue_token(s, user=user, settings=app.state.settings, kind="cookie")
        s.commit()
    SECRETS.add(raw)
    return raw


def approve_waiting(app: FastAPI) -> None:
    """Approve every proposal waiting for review, as the office would."""
    with Session(app.state.engine) as s:
        for p in s.exec(select(Proposal).where(Proposal.status == ProposalStatus.pending)):
            review_proposal(s, proposal=p, data=ProposalReview(action="approve"), actor="admin")
        s.commit()


def finish(app: FastAPI, world: VoteWorld, plan: list[dict[int, str]], skip: int = 0) -> None:
    """Cast the plan's ballots for deputies after the first `skip`, then close and publish."""
    with Session(app.state.engine) as s:
        vs = s.get(VotingSession, world.sid)
        assert vs is not None
        for d, choices in zip(world.deputies[skip:], plan, strict=False):
            r = cast_ballot(
                s, vs=vs, user=d, data=BallotIn(choices={str(k): v for k, v in choices.items()})
            )
            SECRETS.add(r.receipt)
        s.commit()
        close_session(s, vs=vs, actor="admin")
        publish_session(s, vs=vs, actor="admin")
        s.commit()


# --- the ballot through plain form posts ----------------------------------------------------


def test_vote_page_gates(app: FastAPI, client: TestClient, session: Session) -> None:
    world = build(app)
    r = client.get(f"/vote/{world.sid}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=%2Fvote%2F")
    evaluator = make_user(session, Role.evaluator, "eva")
    client.cookies.set(SESSION_COOKIE, cookie_for(app, evaluator))
    assert client.get(f"/vote/{world.sid}").status_code == 403
    outsider = make_deputies(session, 1, prefix="outsider")[0]
    client.cookies.set(SESSION_COOKIE, cookie_for(app, outsider))
    r = client.get(f"/vote/{world.sid}")
    assert r.status_code == 403 and "名单" in r.text
    client.cookies.set(SESSION_COOKIE, cookie_for(app, world.deputies[0]))
    assert client.get("/vote/999").status_code == 404
    r = client.get(f"/vote/{world.sid}")
    assert r.status_code == 200
    assert r.text.count('class="card ballot-card"') == 4 and "2,500,000" in r.text
    assert "无记名投票" in r.text


def test_vote_by_form_review_then_cast_then_receipt(app: FastAPI, client: TestClient) -> None:
    world = build(app, max_for=2)
    cookie = cookie_for(app, world.deputies[0])
    client.cookies.set(SESSION_COOKIE, cookie)
    csrf = csrf_token_for(app.state.settings, cookie)
    p = world.project_ids
    incomplete = {"csrf_token": csrf, f"c{p[0]}": "for"}
    r = client.post(f"/vote/{world.sid}/review", data=incomplete)
    assert r.status_code == 422 and "请对“学校周边交通改造”作出选择" in r.text
    too_many = {"csrf_token": csrf} | {f"c{i}": "for" for i in p}
    r = client.post(f"/vote/{world.sid}/review", data=too_many)
    assert r.status_code == 422 and "赞成票不能超过 2 张" in r.text
    # No CSRF token: refused before anything else.
    marks = {f"c{p[0]}": "for", f"c{p[1]}": "against", f"c{p[2]}": "for", f"c{p[3]}": "abstain"}
    assert client.post(f"/vote/{world.sid}", data=marks).status_code == 403
    r = client.post(f"/vote/{world.sid}/review", data={"csrf_token": csrf} | marks)
    assert r.status_code == 200 and "请核对您的选票" in r.text
    assert r.text.count('class="review-row"') == 4
    # Going back keeps the marks.
    back = client.post(f"/vote/{world.sid}/review", data={"csrf_token": csrf, "edit": "1"} | marks)
    assert back.status_code == 200 and back.text.count("checked") == 4
    r = client.post(f"/vote/{world.sid}", data={"csrf_token": csrf} | marks)
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    shown = re.search(r'id="receipt-code">(.*?)</p>', r.text)
    assert shown is not None
    receipt = re.sub(r"<[^>]*>", "", shown.group(1))  # the code's groups are spans
    assert re.fullmatch(r"[A-Z0-9]{4}(-[A-Z0-9]{4}){4}", receipt)
    SECRETS.add(receipt)
    digest = hashlib.sha256(receipt.replace("-", "").encode()).hexdigest()
    assert digest in r.text
    again = client.post(f"/vote/{world.sid}", data={"csrf_token": csrf} | marks)
    assert again.status_code == 409 and "已经投过票" in again.text
    assert client.get(f"/vote/{world.sid}").status_code == 409


def test_results_page_only_after_publication(app: FastAPI, client: TestClient) -> None:
    world = build(app)
    p = world.project_ids
    r = client.get(f"/results/{world.sid}")
    assert r.status_code == 409 and "尚未公布" in r.text
    plan = [{p[0]: "for", p[1]: "for", p[2]: "for", p[3]: "against"}] * 5 + [
        {p[0]: "for", p[1]: "against", p[2]: "abstain", p[3]: "for"}
    ]
    finish(app, world, plan)
    r = client.get(f"/results/{world.sid}")
    assert r.status_code == 200
    assert "赞成票超过全体代表（7 名" in r.text and "配置哈希" in r.text
    assert 'id="figure-vote"' in r.text and "/static/plotly/plotly.min.js" in r.text
    en = client.get(f"/results/{world.sid}?lang=en")
    assert "more than half of all 7 deputies" in en.text and "Community canteen" in en.text
    assert client.get("/results/999").status_code == 404


# --- the projects page ----------------------------------------------------------------------


def test_projects_page_propose_and_support(app: FastAPI, client: TestClient) -> None:
    world = build(app)
    r = client.get("/projects")
    assert r.status_code == 200 and "minyi_client" in r.cookies
    assert "投票进行中" in r.text and "已投票 0/7" in r.text
    r = client.post(
        "/projects/proposals",
        data={
            "title": "增设公共充电桩",
            "category": "交通",
            "area_code": "heping",
            "rough_cost": "300000",
        },
        follow_redirects=False,
    )
    # Waiting for the office's approval: the confirmation says so, the page does not show it.
    assert r.status_code == 303 and "msg=proposed_pending" in r.headers["location"]
    assert "审核通过后" in client.get(r.headers["location"]).text
    assert "增设公共充电桩" not in client.get("/projects").text
    approve_waiting(app)
    page = client.get("/projects")
    assert "增设公共充电桩" in page.text and "0 人支持" in page.text
    pid = int(re.search(r'id="proposal-(\d+)"', page.text).group(1))  # type: ignore[union-attr]
    r = client.post(f"/projects/proposals/{pid}/support", follow_redirects=False)
    assert "msg=supported" in r.headers["location"]
    r = client.post(f"/projects/proposals/{pid}/support", follow_redirects=False)
    assert "msg=already" in r.headers["location"]
    assert "1 人支持" in client.get("/projects").text
    bad = client.post(
        "/projects/proposals", data={"title": "x", "category": "星际"}, follow_redirects=False
    )
    # Shown again with the errors beside the fields and the input kept (no JSON, no redirect).
    assert bad.status_code == 422 and "text/html" in bad.headers["content-type"]
    assert 'id="err-title"' in bad.text and 'id="err-category"' in bad.text
    assert 'value="x"' in bad.text
    with TestClient(app) as fresh:  # no cookie yet: refused, not counted
        r = fresh.post(f"/projects/proposals/{pid}/support", follow_redirects=False)
        assert "msg=no_cookie" in r.headers["location"]
    # The tracker appears once projects are selected and report progress.
    p = world.project_ids
    finish(app, world, [{p[0]: "for", p[1]: "for", p[2]: "for", p[3]: "for"}] * 4)
    with Session(app.state.engine) as s:
        proj = s.get(Project, p[0])
        assert proj is not None
        add_progress(
            s,
            project=proj,
            data=ProjectUpdateCreate(date=date(2027, 6, 1), percent_done=40, note="主体完工"),
            actor="admin",
        )
        s.commit()
    page = client.get("/projects?lang=en")
    assert (
        "In progress" in page.text
        and "40% done" in page.text
        and 'id="figure-tracker"' in page.text
    )


# --- in Chromium at 360 px --------------------------------------------------------------------


def no_horizontal_scroll(page: Any) -> None:
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 360, f"page is {width}px wide at a 360px viewport"


def small_targets(page: Any, selector: str) -> list[str]:
    boxes = page.evaluate(
        """(sel) => Array.from(document.querySelectorAll(sel)).filter(e => e.offsetParent !== null)
        .map(e => { const r = e.getBoundingClientRect(); return [e.textContent.trim().slice(0, 20), r.width, r.height]; })""",
        selector,
    )
    return [f"{t} {w:.0f}x{h:.0f}" for t, w, h in boxes if h < 44 or w < 44]


@pytest.mark.browser
def test_deputy_votes_on_a_phone_and_checks_the_receipt(
    app: FastAPI, live_server: str, new_page: Callable[..., Any], page_errors: list[str]
) -> None:
    world = build(app, max_for=3)
    page = new_page(width=360, height=740)
    page.context.add_cookies(
        [{"name": SESSION_COOKIE, "value": cookie_for(app, world.deputies[0]), "url": live_server}]
    )
    page.goto(f"{live_server}/vote/{world.sid}?lang=zh-CN")
    no_horizontal_scroll(page)
    assert small_targets(page, "main .choice, main button") == []
    counter = page.locator("#counter")
    assert counter.inner_text() == "已选择 0/4 项，赞成 0 票"
    cards = page.locator(".ballot-card")
    for i, mark in enumerate(["赞成", "赞成", "赞成", "赞成"]):
        cards.nth(i).get_by_text(mark, exact=True).click()
    assert "赞成票不能超过 3 张" in counter.inner_text()
    assert page.locator("#review").is_disabled()
    cards.nth(3).get_by_text("反对", exact=True).click()
    assert counter.inner_text() == "已选择 4/4 项，赞成 3 票"
    page.locator("#review").click()
    page.wait_for_selector(".review")
    no_horizontal_scroll(page)
    assert page.locator(".review-row").count() == 4
    assert page.locator(".mark-against").count() == 1
    page.locator("#cast").click()
    receipt = page.locator("#receipt-code").inner_text().strip()
    SECRETS.add(receipt)
    assert re.fullmatch(r"[A-Z0-9]{4}(-[A-Z0-9]{4}){4}", receipt)
    no_horizontal_scroll(page)

    p = world.project_ids
    finish(app, world, [{p[0]: "for", p[1]: "against", p[2]: "for", p[3]: "for"}] * 4, skip=1)
    # Force the JavaScript SHA-256 (an intranet over plain http has no crypto.subtle).
    page.add_init_script("Object.defineProperty(window, 'isSecureContext', {value: false});")
    page.goto(f"{live_server}/results/{world.sid}?lang=zh-CN")
    page.wait_for_selector("#plot-vote .main-svg", timeout=20_000)
    no_horizontal_scroll(page)
    assert page.locator("#plot-vote .bars .point").count() >= 4
    page.fill("#receipt", receipt.lower().replace("-", " "))
    page.locator("#verify-form button").click()
    found = page.locator("#verify-result .found")
    found.wait_for()
    text = found.inner_text()
    assert "社区老年食堂: 赞成" in text and "社区卫生服务站: 反对" in text
    page.fill("#receipt", "AAAA-BBBB-CCCC-DDDD-EEEE")
    page.locator("#verify-form button").click()
    page.locator("#verify-result .missing").wait_for()
    assert page_errors == []


@pytest.mark.browser
def test_projects_page_on_a_phone(
    app: FastAPI, live_server: str, new_page: Callable[..., Any], page_errors: list[str]
) -> None:
    world = build(app)
    p = world.project_ids
    finish(app, world, [{i: "for" for i in p}] * 4)
    with Session(app.state.engine) as s:
        for pid, pct in zip(p, (20, 100, 55, 0), strict=True):
            proj = s.get(Project, pid)
            assert proj is not None
            if proj.status not in IMPLEMENTATION:
                continue  # 2.5M no longer fitted in the 4M budget
            add_progress(
                s,
                project=proj,
                data=ProjectUpdateCreate(date=date(2027, 7, 1), percent_done=pct),
                actor="admin",
            )
        s.commit()
    page = new_page(width=360, height=740)
    page.goto(f"{live_server}/projects?lang=zh-CN")
    page.wait_for_selector("#plot-tracker .main-svg", timeout=20_000)
    no_horizontal_scroll(page)
    page.fill("input[name=title]", "小区增设休息座椅")
    page.select_option("select[name=category]", "养老")
    page.locator("#propose button[type=submit]").click()
    page.wait_for_selector("#flash")
    assert "谢谢" in page.locator("#flash").inner_text()
    approve_waiting(app)  # what the office does in /admin/proposals
    page.goto(f"{live_server}/projects?lang=zh-CN")
    page.locator(".support-form button").first.click()
    page.wait_for_selector("#flash")
    assert "支持" in page.locator("#flash").inner_text()
    assert "1 人支持" in page.locator(".proposal").first.inner_text()
    assert small_targets(page, "main button, main .button") == []
    no_horizontal_scroll(page)
    assert page_errors == []
