"""The console's units page, /admin/units: the page for an admin, the 403 page for an
evaluator or deputy, the login page for an anonymous visitor; the tree, the create and edit
forms with their errors beside the field, deactivation, and the import's preview that names
every bad row and writes nothing until it is confirmed."""

from __future__ import annotations

import html
import re

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from service.audit import AuditEntry
from service.auth import SESSION_COOKIE, csrf_token_for, issue_token
from service.models import Role, User
from surveys.units.models import Unit
from tests.conftest import SECRETS
from tests.factories import make_user
from tests.surveys.forms.factories import make_units
from tests.surveys.test_units_admin import BAD_ROWS, csv_bytes


def sign_in(app: FastAPI, client: TestClient, user: User) -> str:
    """Log the client in with a page session; returns the page's CSRF token."""
    with Session(app.state.engine) as s:
        raw, _ = issue_token(s, user=user, settings=app.state.settings, kind="cookie")
        s.commit()
    SECRETS.add(raw)
    client.cookies.set(SESSION_COOKIE, raw)
    return csrf_token_for(app.state.settings, raw)


def seed(app: FastAPI) -> tuple[User, dict[str, int]]:
    with Session(app.state.engine, expire_on_commit=False) as s:
        units = make_units(s)
        admin = make_user(s, Role.admin, "boss")
        return admin, {code: u.id or 0 for code, u in units.items()}


def stored(app: FastAPI) -> dict[str, Unit]:
    with Session(app.state.engine, expire_on_commit=False) as s:
        return {u.code: u for u in s.exec(select(Unit))}


def audit_actions(app: FastAPI) -> list[str]:
    with Session(app.state.engine) as s:
        return [e.action for e in s.exec(select(AuditEntry).order_by(col(AuditEntry.id)))]


def field_errors(page: str) -> dict[str, str]:
    found = re.findall(r'<span class="field-error" id="err-([\w-]+)">([^<]*)</span>', page)
    return {k: html.unescape(v) for k, v in found}


def tree_order(page: str) -> list[str]:
    return re.findall(r'<li id="unit-\d+" data-code="([^"]+)"', page)


def test_who_gets_the_page(app: FastAPI, client: TestClient) -> None:
    admin, ids = seed(app)
    for path in ("/admin/units", f"/admin/units/{ids['street-a']}"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303
        assert r.headers["location"].startswith("/login?next=" + path.replace("/", "%2F"))
    r = client.post("/admin/units", data={"code": "x"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=%2Fadmin")
    for role in (Role.evaluator, Role.deputy):
        with Session(app.state.engine, expire_on_commit=False) as s:
            other = make_user(s, role, f"u-{role.value}")
        csrf = sign_in(app, client, other)
        for path in ("/admin/units", f"/admin/units/{ids['street-a']}"):
            r = client.get(path)
            assert r.status_code == 403 and "text/html" in r.headers["content-type"]
            assert "没有权限" in r.text
        body = {"csrf_token": csrf, "code": "sneaky", "name": "偷偷", "kind": "department"}
        assert client.post("/admin/units", data=body).status_code == 403
        r = client.post(f"/admin/units/{ids['street-a']}/active", data={"csrf_token": csrf})
        assert r.status_code == 403
        files = {"file": ("u.csv", csv_bytes([["x1", "甲", "", "department", ""]]), "text/csv")}
        r = client.post("/admin/units/import", data={"csrf_token": csrf}, files=files)
        assert r.status_code == 403
    assert "sneaky" not in stored(app) and stored(app)["street-a"].is_active
    sign_in(app, client, admin)
    r = client.get("/admin/units")
    assert r.status_code == 200 and "单位树" in r.text
    assert 'aria-current="page" class="current">单位' in r.text
    # Depth first from the root, each level by code.
    assert tree_order(r.text) == [
        "district",
        "dept-civil",
        "dept-hrss",
        "street-a",
        "comm-a1",
        "comm-a2",
        "win-social",
    ]
    assert "街道" in r.text and "下级单位 2 个" in r.text
    english = client.get("/admin/units?lang=en")
    assert "Unit tree" in english.text and "Subdistrict" in english.text
    assert client.get("/admin/units/9999").status_code == 404


def test_create_with_errors_beside_the_field(app: FastAPI, client: TestClient) -> None:
    admin, ids = seed(app)
    csrf = sign_in(app, client, admin)
    assert client.post("/admin/units", data={"code": "n1", "name": "甲"}).status_code == 403
    bad = {"csrf_token": csrf, "code": "bad code", "name": "", "name_en": "Kept", "kind": ""}
    r = client.post("/admin/units", data=bad)
    assert r.status_code == 422
    errors = field_errors(r.text)
    assert set(errors) == {"code", "name", "kind"}
    assert errors["kind"] == "请选择单位类型。"
    assert 'aria-invalid="true" aria-describedby="err-code"' in r.text
    assert 'value="bad code"' in r.text and 'value="Kept"' in r.text
    taken = {"csrf_token": csrf, "code": "street-a", "name": "重复", "kind": "street"}
    r = client.post("/admin/units", data=taken)
    assert r.status_code == 409 and field_errors(r.text) == {"code": "这个代码已经被其他单位使用。"}
    good = {
        "csrf_token": csrf,
        "code": "comm-a3",
        "name": "阳光社区",
        "name_en": "Yangguang",
        "kind": "community",
        "parent_code": "street-a",
    }
    r = client.post("/admin/units", data=good, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/admin/units?done=created")
    page = client.get(r.headers["location"]).text
    assert "已新建单位“阳光社区”。" in html.unescape(page)
    assert tree_order(page).index("comm-a3") == tree_order(page).index("comm-a2") + 1
    assert stored(app)["comm-a3"].parent_id == ids["street-a"]
    assert audit_actions(app)[-1] == "unit.create"


def test_edit_refuses_a_cycle_and_deactivation_is_shown(app: FastAPI, client: TestClient) -> None:
    admin, ids = seed(app)
    csrf = sign_in(app, client, admin)
    street = ids["street-a"]
    r = client.get(f"/admin/units/{street}")
    assert r.status_code == 200 and 'value="建设街道"' in r.text
    # The unit itself and those below it are not offered as its parent.
    options = re.findall(r'<option value="([^"]*)"', r.text)
    assert "district" in options and "comm-a1" not in options and "street-a" not in options
    form = {"csrf_token": csrf, "name": "建设街道", "name_en": "", "kind": "street"}
    r = client.post(f"/admin/units/{street}", data={**form, "parent_code": "comm-a1"})
    assert r.status_code == 422
    assert field_errors(r.text) == {"parent_code": "上级单位不能是本单位或它的下级单位。"}
    r = client.post(f"/admin/units/{street}", data={**form, "name": "", "kind": "moon"})
    assert r.status_code == 422 and set(field_errors(r.text)) == {"name", "kind"}
    assert stored(app)["street-a"].name == "建设街道"
    r = client.post(
        f"/admin/units/{street}",
        data={**form, "name": "新建设街道", "parent_code": ""},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"].endswith(f"#unit-{street}")
    assert stored(app)["street-a"].name == "新建设街道"
    assert stored(app)["street-a"].parent_id is None
    r = client.post(
        f"/admin/units/{ids['dept-hrss']}/active",
        data={"csrf_token": csrf, "active": "0"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and "done=deactivated" in r.headers["location"]
    page = client.get("/admin/units").text
    assert re.search(r'data-code="dept-hrss" data-active="0"', page)
    assert "共 7 个单位，其中 1 个已停用" in page
    assert not stored(app)["dept-hrss"].is_active
    client.post(f"/admin/units/{ids['dept-hrss']}/active", data={"csrf_token": csrf, "active": "1"})
    assert stored(app)["dept-hrss"].is_active
    assert audit_actions(app)[-3:] == ["unit.update", "unit.deactivate", "unit.reactivate"]


def test_import_previews_every_bad_row_and_writes_only_on_confirm(
    app: FastAPI, client: TestClient
) -> None:
    admin, _ = seed(app)
    csrf = sign_in(app, client, admin)
    before = set(stored(app))
    files = {"file": ("bad.csv", csv_bytes(BAD_ROWS), "text/csv")}
    r = client.post("/admin/units/import", data={"csrf_token": csrf}, files=files)
    assert r.status_code == 200
    errors = field_errors(r.text)
    assert set(errors) == {
        "3-kind",
        "4-code",
        "5-code",
        "6-parent_code",
        "7-kind",
        "7-parent_code",
        "8-parent_code",
        "10-code",
        "10-name",
    }
    assert errors["4-code"] == "代码与第 2 行重复。"
    assert errors["5-code"] == "代码“dept-civil”已存在。"
    assert errors["7-parent_code"] == "上级关系形成循环：loop-1 -> loop-2 -> loop-1。"
    assert "8 行中有 7 行有问题" in r.text
    assert "/admin/units/import/confirm" not in r.text  # nothing to confirm
    assert set(stored(app)) == before
    # A good file: the preview offers the confirmation and still writes nothing.
    rows = [
        ["comm-b1", "春晖社区", "Chunhui", "community", "street-b"],
        ["street-b", "和平街道", "Heping", "street", "district"],
    ]
    files = {"file": ("good.csv", csv_bytes(rows), "text/csv")}
    r = client.post("/admin/units/import", data={"csrf_token": csrf}, files=files)
    assert r.status_code == 200 and field_errors(r.text) == {}
    assert "确认导入 2 个单位" in r.text
    assert set(stored(app)) == before
    kept = re.search(r'name="rows" value="([^"]*)"', r.text)
    assert kept
    confirm = {"csrf_token": csrf, "rows": html.unescape(kept.group(1)), "filename": "good.csv"}
    r = client.post("/admin/units/import/confirm", data=confirm, follow_redirects=False)
    assert r.status_code == 303 and "done=imported" in r.headers["location"]
    assert "已导入 2 个单位。" in client.get(r.headers["location"]).text
    units = stored(app)
    assert units["comm-b1"].parent_id == units["street-b"].id
    assert audit_actions(app)[-1] == "unit.import"
    # The same confirmation again: the codes are taken now, so the preview comes back (422).
    r = client.post("/admin/units/import/confirm", data=confirm)
    assert r.status_code == 422 and set(field_errors(r.text)) == {"2-code", "3-code"}
    assert (
        client.post(
            "/admin/units/import/confirm", data={"csrf_token": csrf, "rows": "nonsense"}
        ).status_code
        == 422
    )
    # A file that is not a units table is refused beside the file field.
    files = {"file": ("x.csv", b"a,b\n1,2\n", "text/csv")}
    r = client.post("/admin/units/import", data={"csrf_token": csrf}, files=files)
    assert (
        r.status_code == 422
        and "missing column(s): code, name, kind" in field_errors(r.text)["file"]
    )
