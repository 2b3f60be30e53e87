"""Deputies imported in bulk on the console: the preview names every bad row (taken, invalid,
duplicated in the file, no name, unknown role), the confirmation creates all accounts or none,
and the initial passwords are shown once on a no-store page, one card per deputy."""

from __future__ import annotations

import io
import json
import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from openpyxl import Workbook
from sqlmodel import Session, col, select

from service.audit import AuditEntry, verify
from service.models import Role, User
from service.user_import import MAX_ROWS
from tests.conftest import SECRETS
from tests.factories import make_user
from tests.frontend.test_admin_pages import as_user, audit_actions

PASSWORD_SHAPE = r"[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}"


def _csv(text: str, name: str = "deputies.csv") -> dict[str, tuple[str, bytes, str]]:
    return {"file": (name, text.encode("utf-8"), "text/csv")}


def _problems(html: str) -> dict[int, str]:
    return {
        int(n): p
        for n, p in re.findall(r'id="line-(\d+)" class="bad-row" data-problems="([^"]*)"', html)
    }


def _payload(html: str) -> str:
    found = re.search(r'name="rows" value="([^"]*)"', html)
    assert found, "no confirmation form"
    return found.group(1).replace("&#34;", '"').replace("&quot;", '"')


def _usernames(session: Session) -> set[str]:
    session.expire_all()
    return set(session.exec(select(User.username)))


@pytest.mark.parametrize("role", [Role.evaluator, Role.deputy])
def test_only_admins_import(app: FastAPI, client: TestClient, session: Session, role: Role) -> None:
    r = client.get("/admin/users/import", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?")
    csrf = as_user(app, client, make_user(session, role))
    assert client.get("/admin/users/import").status_code == 403
    r = client.post(
        "/admin/users/import", data={"csrf_token": csrf}, files=_csv("username\nsneaky\n")
    )
    assert r.status_code == 403
    rows = json.dumps([{"line": 2, "username": "sneaky", "display_name": "x", "role": ""}])
    r = client.post("/admin/users/import/confirm", data={"csrf_token": csrf, "rows": rows})
    assert r.status_code == 403 and "sneaky" not in _usernames(session)


def test_preview_names_every_bad_row_and_creates_nothing(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    admin = make_user(session, Role.admin, "boss")
    make_user(session, Role.deputy, "dep.old")
    csrf = as_user(app, client, admin)
    page = client.get("/admin/users")
    assert 'href="/admin/users/import"' in page.text
    assert client.get("/admin/users/import").status_code == 200
    before = _usernames(session)
    text = (
        "username,display_name,role\n"
        "wang.li,王丽,deputy\n"  # 2 good
        "DEP.OLD,老代表,\n"  # 3 taken (any case)
        "a b,空格,deputy\n"  # 4 invalid username
        "zhang,张伟,\n"  # 5 first of a duplicate: fine
        "Zhang,张伟二,\n"  # 6 duplicate in the file
        "li.na,,deputy\n"  # 7 no name
        "zhao,赵,king\n"  # 8 unknown role
        "qian,钱,admin\n"  # 9 admins are not imported
        ",,\n"  # blank: skipped
    )
    r = client.post("/admin/users/import", data={"csrf_token": csrf}, files=_csv(text))
    assert r.status_code == 422
    assert _problems(r.text) == {
        3: "taken",
        4: "username",
        6: "duplicate",
        7: "display_name",
        8: "role",
        9: "role",
    }
    assert "用户名已被现有账号使用" in r.text and "用户名在文件中重复" in r.text
    assert "共 8 行，其中 6 行有问题" in r.text
    assert 'name="rows"' not in r.text  # no confirmation while a row is bad
    assert _usernames(session) == before


def test_confirm_creates_all_with_printable_passwords_once(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    admin = make_user(session, Role.admin, "boss")
    csrf = as_user(app, client, admin)
    before = audit_actions(session)
    text = "\ufeffusername,display_name,role\nwang.li,王丽,\nzhang.wei,张伟,evaluator\nchen,陈晨,人大代表\n"
    r = client.post("/admin/users/import", data={"csrf_token": csrf}, files=_csv(text))
    assert r.status_code == 200 and "共 3 行，全部可以导入。" in r.text
    assert _usernames(session) >= {"boss"} and "wang.li" not in _usernames(session)
    payload = _payload(r.text)
    # Without the CSRF token the confirmation does nothing.
    assert client.post("/admin/users/import/confirm", data={"rows": payload}).status_code == 403

    done = client.post("/admin/users/import/confirm", data={"csrf_token": csrf, "rows": payload})
    assert done.status_code == 200
    assert done.headers["cache-control"] == "no-store"
    cards = re.findall(
        r'data-username="([^"]+)">.*?data-testid="initial-password">([^<]+)<', done.text, re.S
    )
    SECRETS.update(p for _, p in cards)
    assert [u for u, _ in cards] == ["wang.li", "zhang.wei", "chen"]
    assert all(re.fullmatch(PASSWORD_SHAPE, p) for _, p in cards)
    assert len({p for _, p in cards}) == 3
    assert "data-print" in done.text and "/static/js/admin.js" in done.text
    session.expire_all()
    stored = {u.username: u for u in session.exec(select(User).order_by(col(User.id)))}
    assert stored["wang.li"].role == Role.deputy and stored["wang.li"].display_name == "王丽"
    assert stored["zhang.wei"].role == Role.evaluator and stored["chen"].role == Role.deputy
    # The printed password logs in.
    token = client.post("/api/v1/auth/token", data={"username": "wang.li", "password": cards[0][1]})
    assert token.status_code == 200
    SECRETS.add(token.json()["access_token"])
    assert audit_actions(session)[len(before) :] == [
        ("boss", "user.create", "wang.li"),
        ("boss", "user.create", "zhang.wei"),
        ("boss", "user.create", "chen"),
        ("boss", "user.import", ""),
    ]
    assert verify(session).ok
    # No password lands in the audit log.
    details = " ".join(e.detail for e in session.exec(select(AuditEntry)))
    assert not any(p in details for _, p in cards)
    # Sending the same confirmation again names the rows as taken and creates nothing more.
    again = client.post("/admin/users/import/confirm", data={"csrf_token": csrf, "rows": payload})
    assert again.status_code == 409 and set(_problems(again.text).values()) == {"taken"}


def test_a_username_taken_after_the_preview_stops_the_whole_import(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    csrf = as_user(app, client, make_user(session, Role.admin, "boss"))
    text = "username,display_name\nfirst,一号\nlater,二号\n"
    r = client.post("/admin/users/import", data={"csrf_token": csrf}, files=_csv(text))
    payload = _payload(r.text)
    make_user(session, Role.evaluator, "later")
    done = client.post("/admin/users/import/confirm", data={"csrf_token": csrf, "rows": payload})
    assert done.status_code == 409 and _problems(done.text) == {3: "taken"}
    assert "first" not in _usernames(session)  # all or nothing


def test_xlsx_with_chinese_headers(app: FastAPI, client: TestClient, session: Session) -> None:
    csrf = as_user(app, client, make_user(session, Role.admin, "boss"))
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["姓名", "用户名", "角色"])
    ws.append(["周代表", "zhou", "人大代表"])
    ws.append(["吴评价", "wu", "评价人员"])
    buf = io.BytesIO()
    wb.save(buf)
    kind = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    r = client.post(
        "/admin/users/import?lang=en",
        data={"csrf_token": csrf},
        files={"file": ("deputies.xlsx", buf.getvalue(), kind)},
    )
    assert r.status_code == 200 and "All 2 rows can be imported." in r.text
    rows = json.loads(_payload(r.text))
    assert [(x["username"], x["display_name"]) for x in rows] == [
        ("zhou", "周代表"),
        ("wu", "吴评价"),
    ]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (None, "文件中没有数据行。"),
        (_csv("username,display_name\n"), "文件中没有数据行。"),
        ({"file": ("d.csv", "username\n王".encode("gb18030"), "text/csv")}, "UTF-8"),
        (_csv("name,role\n王丽,deputy\n"), "包含 username"),
        (_csv("username\n" + "".join(f"u{i}\n" for i in range(MAX_ROWS + 1))), "每次最多导入"),
        ({"file": ("d.xlsx", b"PK\x03\x04not a workbook", "application/octet-stream")}, ".xlsx"),
    ],
)
def test_unreadable_files_are_named_at_the_file_field(
    app: FastAPI,
    client: TestClient,
    session: Session,
    files: dict[str, tuple[str, bytes, str]] | None,
    message: str,
) -> None:
    csrf = as_user(app, client, make_user(session, Role.admin, "boss"))
    r = client.post("/admin/users/import", data={"csrf_token": csrf}, files=files or {})
    assert r.status_code == 422
    error = re.search(r'<span class="field-error" id="err-file">([^<]*)</span>', r.text)
    assert error and message in error.group(1)
    assert 'aria-describedby="err-file"' in r.text


def test_a_forged_confirmation_is_refused(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    csrf = as_user(app, client, make_user(session, Role.admin, "boss"))
    for rows in ("not json", "[]", json.dumps([{"username": "x"}])):
        r = client.post("/admin/users/import/confirm", data={"csrf_token": csrf, "rows": rows})
        assert r.status_code == 422, rows
    # A hand-made payload is checked like an upload: an admin row is refused.
    rows = json.dumps([{"line": 2, "username": "root2", "display_name": "R", "role": "admin"}])
    r = client.post("/admin/users/import/confirm", data={"csrf_token": csrf, "rows": rows})
    assert r.status_code == 409 and _problems(r.text) == {2: "role"}
    assert "root2" not in _usernames(session)
