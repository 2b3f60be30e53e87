"""The big screen's page without a browser: HTML in every case, Chinese unless ?lang=en,
never cached, a page (not JSON) for a missing session, and linked from the console."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from service.auth import SESSION_COOKIE
from service.models import Role, User
from surveys.voting.hall_models import Attendance
from tests.factories import headers_for
from tests.frontend.test_admin_proposals import cookie_for
from tests.surveys.voting.factories import (
    act,
    bearer,
    create_projects,
    create_session,
    make_deputies,
    make_units,
    session_payload,
    vote,
)


def _sessions(client: TestClient, session: Session) -> tuple[int, int]:
    make_units(session)
    admin = headers_for(client, session, Role.admin, "admin")
    names = [u.username for u in make_deputies(session, 3)]
    ids = create_projects(client, admin, [100_000, 200_000])
    hall = create_session(client, admin, session_payload(ids, names, mode="hall"))
    remote = create_session(client, admin, session_payload(ids, names))
    return hall, remote


def test_the_page_is_html_in_chinese_unless_asked(client: TestClient, session: Session) -> None:
    hall, _ = _sessions(client, session)
    r = client.get(f"/hall/{hall}", headers={"Accept-Language": "en-US,en"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.headers["cache-control"] == "no-store"
    assert '<html lang="zh-CN">' in r.text
    assert "应到" in r.text and "实到" in r.text and "法定人数" in r.text
    # No chrome: none of the site's header, navigation or footer.
    assert "<nav" not in r.text and 'class="topbar"' not in r.text
    # Everything it loads is the server's own.
    assert "http://" not in r.text and "https://" not in r.text
    en = client.get(f"/hall/{hall}?lang=en")
    assert '<html lang="en">' in en.text and "Seated" in en.text and "Present" in en.text


def test_a_missing_session_is_a_page(client: TestClient) -> None:
    r = client.get("/hall/999")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert client.get("/hall/abc").headers["content-type"].startswith("text/html")


def test_the_console_links_a_hall_session_to_its_screen(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    hall, remote = _sessions(client, session)
    admin = session.exec(select(User).where(User.username == "admin")).one()
    client.cookies.set(SESSION_COOKIE, cookie_for(app, admin))
    page = client.get(f"/admin/voting-sessions/{hall}")
    assert page.status_code == 200 and f'href="/hall/{hall}"' in page.text
    assert "/hall/" not in client.get(f"/admin/voting-sessions/{remote}").text


def test_ties_in_words_and_a_run_off_awaited(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    make_units(session)
    admin = headers_for(client, session, Role.admin, "admin")
    users = make_deputies(session, 3)
    voters = [bearer(app, session, u) for u in users]
    names = [u.username for u in users]
    for on_tie in ("rule", "runoff"):
        ids = create_projects(client, admin, [100_000, 100_000])
        payload = session_payload(ids, names, max_selected=1, mode="hall", on_tie=on_tie)
        sid = create_session(client, admin, payload)
        for u in users:
            assert u.id is not None
            session.add(Attendance(session_id=sid, user_id=u.id, signed_in_by="admin"))
        session.commit()
        act(client, admin, sid, "open")
        for h in voters:
            vote(client, h, sid, {ids[0]: "for", ids[1]: "for"})
        act(client, admin, sid, "close")
        page = client.get(f"/hall/{sid}").text
        if on_tie == "rule":
            assert "同票（赞成 3 票）：项目1、项目2。" in page and "入选" in page
        else:
            assert "末位同票（赞成 3 票）：项目1、项目2，将另行投票决定" in page
            assert page.count('class="mark-pending"') == 2
            en = client.get(f"/hall/{sid}?lang=en").text
            assert "Tied at the cut line (3 &#34;for&#34; votes): Project 1, Project 2" in en
