"""The console's paper ballots, /admin/voting-sessions/{id}/paper: who gets the page, sheets
recorded and printed with their serials, handing out, sheets entered with their validity, a
refused count shown in words, the count, and the printable 计票报告 after the close."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from service.models import Role, User
from tests.factories import make_user
from tests.frontend.test_admin_proposals import sign_in
from tests.surveys.voting.factories import (
    bearer,
    create_projects,
    create_session,
    make_deputies,
    make_units,
    session_payload,
)

API = "/api/v1/voting-sessions"


def seed(app: FastAPI, client: TestClient, method: str = "paper") -> tuple[User, int, dict]:
    """An admin and a paper session of three projects, five deputies, at most two "for"."""
    with Session(app.state.engine, expire_on_commit=False) as s:
        make_units(s)
        admin = make_user(s, Role.admin, "admin")
        deputies = make_deputies(s, 5)
        headers = bearer(app, s, admin)
    ids = create_projects(client, headers, [1_200_000, 800_000, 1_500_000])
    payload = session_payload(
        ids, [d.username for d in deputies], ballot_method=method, max_for_per_ballot=2
    )
    return admin, create_session(client, headers, payload), headers


def test_who_gets_the_page(app: FastAPI, client: TestClient) -> None:
    admin, sid, _ = seed(app, client)
    page = f"/admin/voting-sessions/{sid}/paper"
    r = client.get(page, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    with Session(app.state.engine, expire_on_commit=False) as s:
        evaluator = make_user(s, Role.evaluator, "eva")
    sign_in(app, client, evaluator)
    assert client.get(page).status_code == 403
    sign_in(app, client, admin)
    r = client.get(page)
    assert r.status_code == 200 and "印制选票" in r.text
    assert client.get("/admin/voting-sessions/999/paper").status_code == 404
    session_page = client.get(f"/admin/voting-sessions/{sid}").text
    assert f'href="/admin/voting-sessions/{sid}/paper"' in session_page


def test_print_issue_enter_count_and_report(app: FastAPI, client: TestClient) -> None:
    admin, sid, headers = seed(app, client)
    csrf = sign_in(app, client, admin)
    base = f"/admin/voting-sessions/{sid}/paper"
    r = client.post(
        base + "/sheets",
        data={"csrf_token": csrf, "count": "6", "per_page": "2"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert r.headers["location"] == f"{base}/sheets?first=1&last=6&per_page=2"
    sheets = client.get(r.headers["location"]).text
    assert all(f"编号 No. <strong>{n:06d}</strong>" in sheets for n in range(1, 7))
    assert "不得超过 <strong>2</strong> 个" in sheets and "per-page-2" in sheets
    assert client.get(f"{base}/sheets?first=1&last=7").status_code == 422  # 7 was not printed
    r = client.post(base + "/sheets", data={"csrf_token": csrf, "count": "x"})
    assert r.status_code == 422 and "count" in r.text
    assert client.post(f"{API}/{sid}/open", headers=headers).status_code == 200
    r = client.post(
        base + "/issue", data={"csrf_token": csrf, "count": "5"}, follow_redirects=False
    )
    assert r.status_code == 303
    r = client.post(base + "/issue", data={"csrf_token": csrf, "count": "5"})
    assert r.status_code == 409 and "已印制选票 6 张" in r.text
    page = client.get(f"{API}/{sid}", headers=headers).json()
    a, b, c = (p["project_id"] for p in page["projects"])
    marks = [
        {f"mark_{a}": "for", f"mark_{b}": "against", f"mark_{c}": ""},
        {f"mark_{a}": "for", f"mark_{b}": "for", f"mark_{c}": "for"},  # too many "for"
        {f"mark_{a}": "abstain", f"mark_{b}": "for", f"mark_{c}": "against"},
    ]
    for serial, sheet in enumerate(marks, start=1):
        r = client.post(
            base + "/ballots", data={"csrf_token": csrf, "serial": str(serial), **sheet}
        )
        assert r.status_code == 200  # the page after the redirect
    assert "无效: 赞成 3 项，超过每张选票最多 2 项" in client.get(base).text
    r = client.post(base + "/ballots", data={"csrf_token": csrf, "serial": "1"})
    assert r.status_code == 409 and "已经录入" in r.text
    r = client.post(base + "/ballots/3/delete", data={"csrf_token": csrf})
    assert r.status_code == 200 and "编号 3 的录入已撤销" in r.text
    r = client.post(base + "/ballots/3/delete", data={"csrf_token": csrf})
    assert r.status_code == 404 and "没有录入" in r.text
    sheet = marks[2]
    r = client.post(base + "/ballots", data={"csrf_token": csrf, "serial": "3", **sheet})
    assert r.status_code == 200
    count = {"csrf_token": csrf, "entry": "by_ballot", "collected": "3", "scrutineers": "张三"}
    r = client.post(base + "/count", data=count)
    assert r.status_code == 422 and "scrutineers" in r.text
    r = client.post(base + "/count", data=count | {"scrutineers": "张三\n李四"})
    assert r.status_code == 200 and "已计票，监票人：张三、李四" in r.text
    assert client.get(base + "/report").status_code == 409  # not closed yet
    assert client.post(f"{API}/{sid}/close", headers=headers).status_code == 200
    report = client.get(base + "/report")
    assert report.status_code == 200
    text = report.text
    assert 'id="report-issued">5 张' in text and 'id="report-collected">3 张' in text
    assert 'id="report-valid">2 张' in text and 'id="report-invalid">1 张' in text
    assert "张三" in text and "李四" in text and "签名" in text
    result = client.get(f"{API}/{sid}/results", headers=headers).json()
    assert result["config_hash"] in text


def test_a_mixed_session_hands_sheets_to_named_deputies(app: FastAPI, client: TestClient) -> None:
    admin, sid, headers = seed(app, client, "mixed")
    csrf = sign_in(app, client, admin)
    base = f"/admin/voting-sessions/{sid}/paper"
    client.post(base + "/sheets", data={"csrf_token": csrf, "count": "2"})
    client.post(f"{API}/{sid}/open", headers=headers)
    r = client.post(base + "/issue", data={"csrf_token": csrf, "username": "deputy001"})
    assert r.status_code == 200 and 'id="paper-issued">1<' in r.text
    r = client.post(base + "/issue", data={"csrf_token": csrf, "username": "deputy001"})
    assert r.status_code == 409 and "已经投票" in r.text
