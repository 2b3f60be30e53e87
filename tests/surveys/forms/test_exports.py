"""Exports: CSV with BOM, XLSX and JSON with a codebook; formula cells neutralised; audited."""

from __future__ import annotations

import csv
import io
import json

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlmodel import Session, select

from service.audit import AuditEntry
from service.models import Role
from surveys.forms.exports import neutralise
from tests.factories import headers_for
from tests.surveys.forms.factories import answers, response_body
from tests.surveys.forms.fixtures import World


def _seed(client: TestClient, world: World) -> None:
    bodies = [
        response_body(
            comment='=HYPERLINK("http://evil")',
            answers=answers(2, channel="online", online_issue=["slow", "login"]),
        ),
        response_body(unit_code="win-social", comment="+1 很好", area_code=None, profile=None),
        response_body(
            unit_code="dept-hrss",
            comment="-办事效率太低，跑了三趟还没办好",
            answers=answers(1, visits=3),
        ),
        response_body(unit_code="dept-hrss", comment="@所有人 窗口工作人员态度很好，耐心解答"),
    ]
    for i, b in enumerate(bodies):
        r = client.post(
            f"/api/v1/campaigns/{world.campaign_id}/responses",
            json=b,
            headers={"user-agent": f"ua{i}"},
        )
        assert r.status_code == 201, r.text


def url(world: World, fmt: str, **params: str) -> str:
    extra = "".join(f"&{k}={v}" for k, v in params.items())
    return f"/api/v1/campaigns/{world.campaign_id}/responses?format={fmt}{extra}"


def test_neutralise() -> None:
    assert neutralise("=1+1") == "'=1+1"
    assert neutralise("+86 123") == "'+86 123"
    assert neutralise("-x") == "'-x" and neutralise("@x") == "'@x"
    assert neutralise("\t=x") == "'\t=x"
    assert neutralise("很好") == "很好" and neutralise(-3) == -3 and neutralise(None) is None


def test_csv_has_bom_columns_and_safe_cells(
    client: TestClient, session: Session, world: World
) -> None:
    _seed(client, world)
    r = client.get(url(world, "csv"), headers=world.admin)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    assert r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert len(rows) == 4
    assert list(rows[0])[:3] == ["response_id", "unit_code", "unit_name"]
    assert list(rows[0])[-1] == "comment"
    first = rows[0]
    assert first["unit_name"] == "民政局" and first["attitude"] == "2"
    assert first["online_issue"] == "login slow"
    assert first["comment"].startswith("'=HYPERLINK")
    assert rows[1]["comment"] == "'+1 很好" and rows[1]["area_code"] == ""
    assert rows[2]["comment"].startswith("'-") and rows[2]["visits"] == "3"
    assert rows[3]["comment"].startswith("'@")
    assert all(row["submitted_hour"].endswith(":00:00+00:00") for row in rows)
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "responses.export")).one()
    assert json.loads(entry.detail) == {"flagged": "include", "format": "csv", "rows": 4}


def test_xlsx_with_codebook(client: TestClient, world: World) -> None:
    _seed(client, world)
    r = client.get(url(world, "xlsx"), headers=world.admin)
    assert r.status_code == 200
    wb = load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames == ["responses", "codebook"]
    data = list(wb["responses"].iter_rows(values_only=True))
    assert data[0][0] == "response_id" and len(data) == 5
    header = list(data[0])
    assert data[1][header.index("comment")].startswith("'=")
    assert data[1][header.index("attitude")] == 2
    book = {row[0]: row for row in wb["codebook"].iter_rows(values_only=True)}
    assert book["attitude"][1] == "服务态度" and book["attitude"][3] == "rating"
    assert book["attitude"][4] == "1..5" and book["attitude"][5] == "attitude"
    assert "hall=大厅" in book["channel"][4]


def test_json_and_filters(client: TestClient, world: World) -> None:
    _seed(client, world)
    body = client.get(url(world, "json"), headers=world.admin).json()
    assert body["campaign"]["id"] == world.campaign_id
    assert {c["column"] for c in body["codebook"]} >= {"attitude", "comment", "flagged"}
    assert len(body["responses"]) == 4
    assert body["responses"][0]["comment"].startswith("=HYPERLINK")  # JSON keeps the raw text
    assert body["responses"][0]["online_issue"] == "login slow"
    only = client.get(url(world, "json", flagged="only"), headers=world.admin).json()
    assert only["responses"] == []
    book = client.get(
        f"/api/v1/campaigns/{world.campaign_id}/codebook?format=csv", headers=world.admin
    )
    assert book.status_code == 200 and book.content.startswith(b"\xef\xbb\xbf")
    assert "服务态度" in book.content.decode("utf-8-sig")


def test_export_roles_and_422(client: TestClient, session: Session, world: World) -> None:
    assert client.get(url(world, "csv")).status_code == 401
    dep = headers_for(client, session, Role.deputy, "dep")
    assert client.get(url(world, "csv"), headers=dep).status_code == 403
    ev = headers_for(client, session, Role.evaluator, "eva")
    assert client.get(url(world, "csv"), headers=ev).status_code == 200
    r = client.get(url(world, "pdf"), headers=ev)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "format"]
    assert client.get("/api/v1/campaigns/999/responses?format=csv", headers=ev).status_code == 404
