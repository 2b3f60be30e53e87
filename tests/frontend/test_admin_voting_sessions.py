"""The console's voting sessions, /admin/voting-sessions: access, creating a draft from the
projects with field errors, the rule's plain-language preview (page and API), the electorate
chosen or imported (every unknown username named, nothing saved), and open / close / publish
through confirmation pages, with the 409 page naming the reason of a refusal."""

from __future__ import annotations

import io
import re
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from openpyxl import Workbook
from sqlmodel import Session, select

from service.audit import AuditEntry
from service.models import Role, User
from surveys.voting.models import SessionState, VotingSession
from tests.factories import make_user
from tests.frontend.test_admin_proposals import sign_in
from tests.surveys.voting.factories import bearer, create_projects, make_deputies, make_units, vote

BASE = "/admin/voting-sessions"


def seed(app: FastAPI, client: TestClient) -> tuple[User, list[int], list[User]]:
    """An admin, three projects (1.2, 0.8 and 1.5 million yuan) and five deputies."""
    with Session(app.state.engine, expire_on_commit=False) as s:
        make_units(s)
        admin = make_user(s, Role.admin, "admin")
        deputies = make_deputies(s, 5)
        headers = bearer(app, s, admin)
    ids = create_projects(client, headers, [1_200_000, 800_000, 1_500_000])
    return admin, ids, deputies


def form(project_ids: list[int], **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind": "selection",
        "title": "2027年民生实事项目票决",
        "title_en": "2027 livelihood projects",
        "year": "2027",
        "budget_cap": "3000000",
        "threshold_kind": "majority_of_all",
        "threshold_value": "",
        "max_selected": "2",
        "max_for_per_ballot": "",
        "on_no_fit": "skip",
        "project_ids": [str(i) for i in project_ids],
    }
    data.update(overrides)
    return data


def the_session(app: FastAPI) -> VotingSession:
    with Session(app.state.engine) as s:
        return s.exec(select(VotingSession)).one()


def create(client: TestClient, csrf: str, ids: list[int]) -> int:
    r = client.post(BASE, data={"csrf_token": csrf, **form(ids)}, follow_redirects=False)
    assert r.status_code == 303, r.text
    match = re.match(rf"{BASE}/(\d+)\?done=created", r.headers["location"])
    assert match
    return int(match.group(1))


def test_who_gets_the_pages(app: FastAPI, client: TestClient) -> None:
    admin, ids, deputies = seed(app, client)
    r = client.get(BASE, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    sign_in(app, client, deputies[0])
    assert client.get(BASE).status_code == 403
    assert client.get(BASE + "/new").status_code == 403
    sign_in(app, client, admin)
    r = client.get(BASE)
    assert r.status_code == 200 and "还没有票决" in r.text
    assert "Voting sessions" in client.get(BASE + "?lang=en").text
    new = client.get(BASE + "/new")
    assert new.status_code == 200
    for pid in ids:
        assert f'name="project_ids" value="{pid}"' in new.text
    assert 'data-cost="1200000"' in new.text
    assert client.get(BASE + "/999").status_code == 404


def test_create_from_projects_with_the_rule_in_words(app: FastAPI, client: TestClient) -> None:
    admin, ids, _ = seed(app, client)
    csrf = sign_in(app, client, admin)
    sid = create(client, csrf, ids[:2])
    vs = the_session(app)
    assert vs.id == sid and vs.state == SessionState.draft and vs.max_selected == 2
    page = client.get(f"{BASE}/{sid}?done=created")
    assert "已创建票决草稿" in page.text
    # The preview speaks of the configuration: the ballot, the threshold, the budget, the count.
    assert (
        "每位代表可对每个项目投赞成、反对或弃权；获得全体代表过半数赞成的项目通过，"
        "按赞成票由多到少排序，在预算 300 万元内依次入选，最多选出前 2 项" in page.text
    )
    assert "2,000,000" in page.text  # the slate's total beside the cap
    english = client.get(f"{BASE}/{sid}?lang=en")
    assert "Each deputy may vote for, against or abstain on each project" in english.text
    listing = client.get(BASE + "?lang=zh-CN")
    assert f'id="session-{sid}"' in listing.text and "草稿" in listing.text
    assert "0 / 0" in listing.text
    with Session(app.state.engine) as s:
        entry = s.exec(select(AuditEntry).where(AuditEntry.action == "voting_session.create")).one()
        assert entry.actor == "admin" and entry.target == str(sid)


def test_a_refused_form_names_each_field_and_keeps_the_input(
    app: FastAPI, client: TestClient
) -> None:
    admin, ids, _ = seed(app, client)
    csrf = sign_in(app, client, admin)
    bad = form(ids[:1], title="x", year="soon", threshold_kind="fraction", threshold_value="7/5")
    r = client.post(BASE, data={"csrf_token": csrf, **bad})
    assert r.status_code == 422
    assert 'id="err-year"' in r.text and 'aria-describedby="err-year"' in r.text
    assert 'value="soon"' in r.text and 'value="7/5"' in r.text
    r = client.post(BASE, data={"csrf_token": csrf, **form([], threshold_value="")})
    assert r.status_code == 422 and 'id="err-project_ids"' in r.text
    r = client.post(BASE, data={"csrf_token": csrf, **form(ids, threshold_kind="fraction")})
    assert r.status_code == 422 and 'id="err-threshold_value"' in r.text
    r = client.post(BASE, data={"csrf_token": csrf, **form(ids, title="x")})
    assert r.status_code == 422 and 'id="err-title"' in r.text
    with Session(app.state.engine) as s:
        assert s.exec(select(VotingSession)).all() == []
    # Without the CSRF token nothing is created.
    assert client.post(BASE, data=form(ids)).status_code == 403


def test_preview_api(app: FastAPI, client: TestClient) -> None:
    admin, _, deputies = seed(app, client)
    url = "/api/v1/voting-rules/preview"
    query = {
        "budget_cap": 1_500_000,
        "threshold": "fraction",
        "threshold_value": "3/5",
        "electorate": 40,
    }
    assert client.get(url, params=query).status_code == 401
    sign_in(app, client, deputies[0])
    assert client.get(url, params=query).status_code == 403
    sign_in(app, client, admin)
    r = client.get(url, params=query)
    assert r.status_code == 200, r.text
    assert "全体代表（40 名）的 3/5（至少 24 票）" in r.json()["text"]
    assert "150 万元" in r.json()["text"]
    assert "at least 3/5 of all 40 deputies (at least 24)" in r.json()["text_en"]
    r = client.get(url, params={"threshold": "min_votes", "threshold_value": "7", "kind": "x"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "kind"]
    r = client.get(url, params={"threshold": "min_votes", "threshold_value": "7"})
    assert "获得至少 7 票赞成的项目通过" in r.json()["text"]
    r = client.get(url, params={"threshold": "fraction", "threshold_value": "2"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["query", "threshold_value"]
    r = client.get(url, params={"on_no_fit": "maybe"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "on_no_fit"]


def test_electorate_chosen_and_imported(app: FastAPI, client: TestClient) -> None:
    admin, ids, deputies = seed(app, client)
    csrf = sign_in(app, client, admin)
    sid = create(client, csrf, ids)
    page = client.get(f"{BASE}/{sid}/electorate")
    assert page.status_code == 200
    assert all(f'value="{d.username}"' in page.text for d in deputies)
    assert 'value="admin"' not in page.text  # deputies only
    searched = client.get(f"{BASE}/{sid}/electorate?q=deputy002")
    assert 'value="deputy002"' in searched.text and 'value="deputy003"' not in searched.text
    everyone = client.get(f"{BASE}/{sid}/electorate?all=1")
    assert everyone.text.count(" checked>") == 5
    names = [d.username for d in deputies[:3]]
    r = client.post(
        f"{BASE}/{sid}/electorate",
        data={"csrf_token": csrf, "deputy": names},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"].endswith("done=electorate")
    assert "(3)" in client.get(f"{BASE}/{sid}").text
    # An import with unknown names: each is named, and the saved electorate is unchanged.
    csv_text = "username\ndeputy004\nghost1\nadmin\ndeputy005\nghost2\n"
    r = client.post(
        f"{BASE}/{sid}/electorate/import",
        data={"csrf_token": csrf},
        files={"file": ("names.csv", csv_text.encode(), "text/csv")},
    )
    assert r.status_code == 422
    listed = re.search(r'<ul id="unknown-names">(.*?)</ul>', r.text, re.S)
    assert listed and re.findall(r"<li>(.*?)</li>", listed.group(1)) == [
        "ghost1",
        "admin",
        "ghost2",
    ]
    assert "(3)" in client.get(f"{BASE}/{sid}").text
    # A good XLSX replaces it.
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in (["用户名"], ["deputy004"], ["deputy005"]):
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    r = client.post(
        f"{BASE}/{sid}/electorate/import",
        data={"csrf_token": csrf},
        files={"file": ("names.xlsx", buffer.getvalue(), "application/octet-stream")},
        follow_redirects=False,
    )
    assert r.status_code == 303
    text = client.get(f"{BASE}/{sid}").text
    assert "(2)" in text and "deputy004、deputy005" in text
    r = client.post(
        f"{BASE}/{sid}/electorate/import",
        data={"csrf_token": csrf},
        files={"file": ("names.xlsx", b"not a workbook", "application/octet-stream")},
    )
    assert r.status_code == 422 and "无法读取" in r.text


def test_open_close_publish_with_confirmation(app: FastAPI, client: TestClient) -> None:
    admin, ids, deputies = seed(app, client)
    csrf = sign_in(app, client, admin)
    sid = create(client, csrf, ids)
    # No electorate: the 409 page says why, and nothing changes.
    confirm = client.get(f"{BASE}/{sid}/open")
    assert confirm.status_code == 200 and "确认开始投票" in confirm.text
    r = client.post(f"{BASE}/{sid}/open", data={"csrf_token": csrf})
    assert r.status_code == 409 and "还没有选定代表" in r.text
    assert "has no electorate" not in r.text
    assert the_session(app).state == SessionState.draft
    client.post(
        f"{BASE}/{sid}/electorate",
        data={"csrf_token": csrf, "deputy": [d.username for d in deputies]},
    )
    assert client.post(f"{BASE}/{sid}/open", data={}).status_code == 403  # no CSRF token
    r = client.post(f"{BASE}/{sid}/open", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"{BASE}/{sid}?done=open"
    page = client.get(r.headers["location"])
    assert "投票已开始" in page.text and 'data-state="open"' in page.text
    # The edit and electorate forms of an open session are refused with the reason.
    r = client.post(f"{BASE}/{sid}/edit", data={"csrf_token": csrf, **form(ids)})
    assert r.status_code == 409 and "投票中" in r.text
    with Session(app.state.engine) as s:
        headers = bearer(app, s, deputies[0])
    vote(client, headers, sid, {ids[0]: "for", ids[1]: "against", ids[2]: "abstain"})
    assert client.get(f"/api/v1/voting-sessions/{sid}/turnout").json()["cast"] == 1
    assert re.search(r'id="turnout-cast">1<', client.get(f"{BASE}/{sid}").text)
    # Publishing an open session is refused, in words.
    r = client.post(f"{BASE}/{sid}/publish", data={"csrf_token": csrf})
    assert r.status_code == 409 and "投票中" in r.text
    assert "确认结束投票" in client.get(f"{BASE}/{sid}/close").text
    r = client.post(f"{BASE}/{sid}/close", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    closed = client.get(f"{BASE}/{sid}")
    # Before publishing, the count is on the console page itself: no JSON link, no public page.
    assert "/api/v1/" not in re.sub(r'data-url="[^"]*"', "", closed.text)
    assert 'href="#result-title"' in closed.text and f'href="/results/{sid}' not in closed.text
    assert "计票结果尚未公布" in closed.text
    rows = re.findall(r'<td class="num" data-label="赞成">(\d+)</td>', closed.text)
    assert sorted(rows) == ["0", "0", "1"]
    r = client.post(f"{BASE}/{sid}/publish", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    published = client.get(f"{BASE}/{sid}")
    assert f'href="/results/{sid}' in published.text and "计票结果尚未公布" not in published.text
    assert the_session(app).state == SessionState.published
    with Session(app.state.engine) as s:
        actions = {e.action for e in s.exec(select(AuditEntry))}
    assert {"voting_session.open", "voting_session.close", "voting_session.publish"} <= actions
    listing = client.get(BASE)
    assert "已公布" in listing.text and "1 / 5" in listing.text


def test_edit_a_draft(app: FastAPI, client: TestClient) -> None:
    admin, ids, _ = seed(app, client)
    csrf = sign_in(app, client, admin)
    sid = create(client, csrf, ids[:2])
    page = client.get(f"{BASE}/{sid}/edit")
    assert page.status_code == 200
    assert 'value="2027年民生实事项目票决"' in page.text
    assert f'value="{ids[0]}" id="project-{ids[0]}" data-cost="1200000" checked' in page.text
    assert "在预算 300 万元内依次入选" in page.text  # the preview without JavaScript
    changed = form(
        ids[1:], title="2027年票决（修订）", threshold_kind="min_votes", threshold_value="2"
    )
    r = client.post(
        f"{BASE}/{sid}/edit", data={"csrf_token": csrf, **changed}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"].endswith("done=saved")
    vs = the_session(app)
    assert vs.title == "2027年票决（修订）" and vs.threshold == {"min_votes": 2}
    shown = client.get(f"{BASE}/{sid}")
    assert "获得至少 2 票赞成的项目通过" in shown.text and "2,300,000" in shown.text
    bad = client.post(f"{BASE}/{sid}/edit", data={"csrf_token": csrf, **form([], year="")})
    assert bad.status_code == 422 and 'id="err-year"' in bad.text
    assert 'id="err-project_ids"' in bad.text  # every refused field at once
    assert the_session(app).title == "2027年票决（修订）"


def test_the_api_creates_without_an_electorate_and_refuses_to_open(
    app: FastAPI, client: TestClient
) -> None:
    _, ids, _ = seed(app, client)
    with Session(app.state.engine, expire_on_commit=False) as s:
        headers = bearer(app, s, s.exec(select(User).where(User.username == "admin")).one())
    body = {"title": "无代表的票决", "year": 2027, "project_ids": ids, "budget_cap": 1_000_000}
    r = client.post("/api/v1/voting-sessions", json=body, headers=headers)
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    assert client.get(f"/api/v1/voting-sessions/{sid}").json()["electorate"] == 0
    r = client.post(f"/api/v1/voting-sessions/{sid}/open", headers=headers)
    assert r.status_code == 409 and "no electorate" in r.text


def test_a_draft_is_deleted_after_confirmation(app: FastAPI, client: TestClient) -> None:
    admin, ids, deputies = seed(app, client)
    csrf = sign_in(app, client, admin)
    sid = create(client, csrf, ids)
    page = client.get(f"{BASE}/{sid}")
    assert f'href="{BASE}/{sid}/delete"' in page.text and "删除草稿" in page.text
    confirm = client.get(f"{BASE}/{sid}/delete")
    assert confirm.status_code == 200 and "确认删除这次票决的草稿" in confirm.text
    assert client.post(f"{BASE}/{sid}/delete", data={}).status_code == 403  # no CSRF token
    r = client.post(f"{BASE}/{sid}/delete", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"{BASE}?done=delete"
    assert "草稿已删除" in client.get(r.headers["location"]).text
    with Session(app.state.engine) as s:
        assert s.exec(select(VotingSession)).all() == []
    assert client.get(f"{BASE}/{sid}").status_code == 404
    # An opened vote is not a draft: no delete link, and the post is refused in words.
    sid = create(client, csrf, ids)
    client.post(
        f"{BASE}/{sid}/electorate",
        data={"csrf_token": csrf, "deputy": [d.username for d in deputies]},
    )
    client.post(f"{BASE}/{sid}/open", data={"csrf_token": csrf})
    assert f'href="{BASE}/{sid}/delete"' not in client.get(f"{BASE}/{sid}").text
    r = client.post(f"{BASE}/{sid}/delete", data={"csrf_token": csrf})
    assert r.status_code == 409 and "未能删除" in r.text
    assert the_session(app).state == SessionState.open
