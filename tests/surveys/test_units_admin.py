"""Units for the office: edit, deactivate and reactivate through the API, the 0008 migration's
column, and the spreadsheet import (a preview naming every bad row and column, writing nothing;
a commit of all rows or none)."""

from __future__ import annotations

import csv
import io

from alembic import command
from fastapi.testclient import TestClient
from openpyxl import Workbook
from sqlalchemy import create_engine, text
from sqlmodel import Session, col, select

from service.audit import AuditEntry
from service.db import alembic_config, upgrade
from service.models import Role
from surveys.units.models import Unit
from tests.factories import headers_for
from tests.surveys.forms.factories import campaign_body, create_survey, make_units

HEADER = ["code", "name", "name_en", "kind", "parent_code"]


def csv_bytes(rows: list[list[str]], header: list[str] = HEADER, encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def xlsx_bytes(rows: list[list[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def upload(client: TestClient, headers: dict[str, str], data: bytes, dry_run: bool = True):  # type: ignore[no-untyped-def]
    return client.post(
        f"/api/v1/units/import?dry_run={'true' if dry_run else 'false'}",
        files={"file": ("units.csv", data, "text/csv")},
        headers=headers,
    )


def codes(session: Session) -> set[str]:
    session.expire_all()
    return set(session.exec(select(Unit.code)))


def actions(session: Session) -> list[str]:
    session.expire_all()
    return [e.action for e in session.exec(select(AuditEntry).order_by(col(AuditEntry.id)))]


def test_migration_0008_adds_an_active_flag_that_keeps_units_active(database_url: str) -> None:
    cfg = alembic_config(database_url)
    engine = create_engine(database_url)
    try:
        command.downgrade(cfg, "0007")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO unit (code, name, name_en, kind, created_at) VALUES "
                    "('old', '旧单位', 'Old', 'department', CURRENT_TIMESTAMP)"
                )
            )
        command.upgrade(cfg, "0008")
        with engine.begin() as conn:
            assert conn.execute(text("SELECT is_active FROM unit WHERE code = 'old'")).scalar()
        command.downgrade(cfg, "0007")
        with engine.begin() as conn:
            columns = conn.execute(text("SELECT * FROM unit")).keys()
            assert "is_active" not in columns
            conn.execute(text("DELETE FROM unit"))
    finally:
        upgrade(database_url)
        engine.dispose()


def test_edit_a_unit_and_refuse_a_cycle(client: TestClient, session: Session) -> None:
    units = make_units(session)
    admin = headers_for(client, session, Role.admin)
    street = units["street-a"].id
    r = client.patch(
        f"/api/v1/units/{units['comm-a1'].id}",
        json={"name": "幸福里社区", "name_en": "Xingfuli", "parent_code": "district"},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["name"], body["name_en"], body["parent_code"]) == (
        "幸福里社区",
        "Xingfuli",
        "district",
    )
    assert body["is_active"] is True
    # The district under one of its own streets, or a street under itself, makes a loop.
    for unit_id, parent in ((units["district"].id, "street-a"), (street, "street-a")):
        r = client.patch(f"/api/v1/units/{unit_id}", json={"parent_code": parent}, headers=admin)
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["loc"] == ["body", "parent_code"]
        assert "cycle" in r.json()["detail"][0]["msg"]
    r = client.patch(f"/api/v1/units/{street}", json={"parent_code": "nowhere"}, headers=admin)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "parent_code"]
    r = client.patch(f"/api/v1/units/{street}", json={"kind": "planet"}, headers=admin)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "kind"
    r = client.patch(f"/api/v1/units/{street}", json={"name": None}, headers=admin)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "name"]
    # A root: parent_code "" takes the parent away.
    r = client.patch(f"/api/v1/units/{street}", json={"parent_code": ""}, headers=admin)
    assert r.status_code == 200 and r.json()["parent_code"] is None
    assert client.patch("/api/v1/units/9999", json={}, headers=admin).status_code == 404
    assert actions(session).count("unit.update") == 2


def test_only_an_admin_edits_or_imports(client: TestClient, session: Session) -> None:
    units = make_units(session)
    uid = units["dept-civil"].id
    assert client.patch(f"/api/v1/units/{uid}", json={"name": "x"}).status_code == 401
    assert upload(client, {}, csv_bytes([["a", "甲", "", "department", ""]])).status_code == 401
    for role in (Role.evaluator, Role.deputy):
        h = headers_for(client, session, role)
        assert (
            client.patch(f"/api/v1/units/{uid}", json={"name": "x"}, headers=h).status_code == 403
        )
        r = upload(client, h, csv_bytes([["a", "甲", "", "department", ""]]), dry_run=False)
        assert r.status_code == 403
    assert "a" not in codes(session)


def test_a_deactivated_unit_is_not_offered_for_new_campaigns_but_stays_in_past_ones(
    client: TestClient, session: Session
) -> None:
    units = make_units(session)
    admin = headers_for(client, session, Role.admin)
    survey = create_survey(client, admin)
    r = client.post("/api/v1/campaigns", json=campaign_body(survey), headers=admin)
    assert r.status_code == 201, r.text
    past = r.json()["id"]
    uid = units["dept-hrss"].id
    r = client.patch(f"/api/v1/units/{uid}", json={"is_active": False}, headers=admin)
    assert r.status_code == 200 and r.json()["is_active"] is False
    active = {u["code"] for u in client.get("/api/v1/units?active=true").json()}
    assert "dept-hrss" not in active and "dept-civil" in active
    everyone = client.get("/api/v1/units").json()
    assert {"code": "dept-hrss", "is_active": False}.items() <= next(
        u for u in everyone if u["code"] == "dept-hrss"
    ).items()
    r = client.post("/api/v1/campaigns", json=campaign_body(survey), headers=admin)
    assert r.status_code == 422
    assert r.json()["detail"] == [
        {
            "loc": ["body", "unit_codes", 1],
            "msg": "unit 'dept-hrss' is deactivated",
            "type": "value_error",
        }
    ]
    assert (
        "dept-hrss" in client.get(f"/api/v1/campaigns/{past}", headers=admin).json()["unit_codes"]
    )
    r = client.patch(f"/api/v1/units/{uid}", json={"is_active": True}, headers=admin)
    assert r.status_code == 200 and r.json()["is_active"] is True
    assert (
        client.post("/api/v1/campaigns", json=campaign_body(survey), headers=admin).status_code
        == 201
    )
    done = [a for a in actions(session) if a.startswith("unit.")]
    assert done == ["unit.deactivate", "unit.reactivate"]


BAD_ROWS = [
    ["street-b", "和平街道", "Heping", "street", "district"],  # row 2: fine
    ["comm-b1", "春晖社区", "", "village", "street-b"],  # row 3: unknown kind
    ["street-b", "又一个", "", "street", "district"],  # row 4: code twice in the file
    ["dept-civil", "民政局", "", "department", "district"],  # row 5: code already stored
    ["comm-b2", "绿园社区", "", "community", "street-z"],  # row 6: unknown parent
    ["loop-1", "甲", "", "team", "loop-2"],  # row 7: unknown kind and a loop
    ["loop-2", "乙", "", "leadership_team", "loop-1"],  # row 8: a loop
    ["", "", "", "", ""],  # row 9: blank, skipped
    ["bad code", "", "", "street", ""],  # row 10: bad code, missing name
]


def test_the_preview_names_every_bad_row_and_column_and_writes_nothing(
    client: TestClient, session: Session
) -> None:
    make_units(session)
    admin = headers_for(client, session, Role.admin)
    before = codes(session)
    r = upload(client, admin, csv_bytes(BAD_ROWS))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["dry_run"] is True and body["valid"] is False and body["imported"] == 0
    assert body["count"] == 8
    found = {(e["row"], e["column"]) for e in body["errors"]}
    assert found == {
        (3, "kind"),
        (4, "code"),
        (5, "code"),
        (6, "parent_code"),
        (7, "kind"),
        (7, "parent_code"),
        (8, "parent_code"),
        (10, "code"),
        (10, "name"),
    }
    msgs = {(e["row"], e["column"]): e["msg"] for e in body["errors"]}
    assert "unknown kind 'village'" in msgs[(3, "kind")]
    assert msgs[(4, "code")] == "code 'street-b' is also in row 2"
    assert msgs[(5, "code")] == "code 'dept-civil' already exists"
    assert "street-z" in msgs[(6, "parent_code")]
    assert "loop-1 -> loop-2 -> loop-1" in msgs[(7, "parent_code")]
    assert [row["errors"] for row in body["rows"] if row["row"] == 2] == [{}]
    # Committing the same file writes nothing and names the same cells.
    r = upload(client, admin, csv_bytes(BAD_ROWS), dry_run=False)
    assert r.status_code == 422
    assert {(d["loc"][1], d["loc"][2]) for d in r.json()["detail"]} == found
    assert all(d["loc"][0] == "row" for d in r.json()["detail"])
    assert codes(session) == before
    assert "unit.import" not in actions(session)


def test_commit_writes_every_row_parents_first(client: TestClient, session: Session) -> None:
    make_units(session)
    admin = headers_for(client, session, Role.admin)
    rows = [
        ["comm-b1", "春晖社区", "Chunhui", "community", "street-b"],  # its parent comes later
        ["street-b", "和平街道", "Heping", "street", "district"],
        ["team-b", "和平街道领导班子", "", "leadership_team", "street-b"],
    ]
    r = upload(client, admin, csv_bytes(rows))
    assert r.status_code == 200 and r.json()["valid"] is True and r.json()["errors"] == []
    assert "street-b" not in codes(session)
    r = upload(client, admin, csv_bytes(rows), dry_run=False)
    assert r.status_code == 201, r.text
    assert r.json()["imported"] == 3
    parents = {u["code"]: u["parent_code"] for u in client.get("/api/v1/units").json()}
    assert parents["comm-b1"] == "street-b" and parents["street-b"] == "district"
    assert actions(session)[-1] == "unit.import"
    # The same file again: every code is now taken.
    r = upload(client, admin, csv_bytes(rows), dry_run=False)
    assert r.status_code == 422 and len(r.json()["detail"]) == 3


def test_xlsx_and_excel_csv_files(client: TestClient, session: Session) -> None:
    make_units(session)
    admin = headers_for(client, session, Role.admin)
    book = xlsx_bytes(
        [
            [101, "第一社区", "First", "community", "street-a"],
            ["w2", "窗口", None, "service_window", None],
        ]
    )
    r = upload(client, admin, book, dry_run=False)
    assert r.status_code == 201, r.text
    assert {"101", "w2"} <= codes(session)
    # Excel on a Chinese Windows saves CSV as GB18030, header in any order and case.
    gbk = csv_bytes(
        [["社区甲", "comm-gbk", "community"]], header=["Name", "CODE", "kind"], encoding="gb18030"
    )
    r = upload(client, admin, gbk, dry_run=False)
    assert r.status_code == 201, r.text
    assert session.exec(select(Unit.name).where(Unit.code == "comm-gbk")).one() == "社区甲"
    r = upload(client, admin, csv_bytes([["x", "y"]], header=["code", "name"]))
    assert r.status_code == 422
    assert r.json()["detail"] == [
        {"loc": ["body", "file"], "msg": "missing column(s): kind", "type": "value_error"}
    ]
    assert upload(client, admin, b"").status_code == 422
    assert upload(client, admin, b"PK\x03\x04 broken").json()["detail"][0]["loc"] == [
        "body",
        "file",
    ]
    # The raw body works too (no multipart); without dry_run the import only previews.
    raw = csv_bytes([["raw", "原始", "", "team", ""]])
    r = client.post("/api/v1/units/import", content=raw, headers=admin)
    assert r.status_code == 200 and r.json()["dry_run"] is True
    assert [(e["row"], e["column"]) for e in r.json()["errors"]] == [(2, "kind")]
