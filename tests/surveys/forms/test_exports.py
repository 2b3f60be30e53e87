"""Exports: CSV with BOM, XLSX and JSON with a codebook; formula cells neutralised; audited."""

from __future__ import annotations

import csv
import io
import json
import logging
import threading
import time

import httpx
from fastapi import FastAPI
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
    # Rows are not in the order of arrival: find each by its (neutralised) comment.
    by = {row["comment"][:2]: row for row in rows}
    first = by["'="]
    assert first["unit_name"] == "民政局" and first["attitude"] == "2"
    assert first["online_issue"] == "login slow"
    assert first["comment"].startswith("'=HYPERLINK")
    assert by["'+"]["comment"] == "'+1 很好" and by["'+"]["area_code"] == ""
    assert by["'-"]["visits"] == "3"
    assert by["'@"]["unit_code"] == "dept-hrss"
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
    row = next(r for r in data[1:] if str(r[header.index("comment")]).startswith("'="))
    assert row[header.index("attitude")] == 2
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
    first = next(r for r in body["responses"] if r["unit_code"] == "dept-civil")
    assert first["comment"].startswith("=HYPERLINK")  # JSON keeps the raw text
    assert first["online_issue"] == "login slow"
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
    # Raw data is the admin's alone: evaluators see protected aggregates only.
    ev = headers_for(client, session, Role.evaluator, "eva")
    for fmt in ("csv", "xlsx", "json"):
        refused = client.get(url(world, fmt), headers=ev)
        assert refused.status_code == 403 and "admin" in refused.json()["detail"]
    assert client.get(url(world, "csv"), headers=world.admin).status_code == 200
    r = client.get(url(world, "pdf"), headers=world.admin)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "format"]
    missing = "/api/v1/campaigns/999/responses?format=csv"
    assert client.get(missing, headers=world.admin).status_code == 404


class _Lines(logging.Handler):
    """Keeps every access line as uvicorn would print it (after the logger's filters)."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_the_export_and_the_access_log_share_no_key(
    client: TestClient, app: FastAPI, world: World
) -> None:
    """Residents post through a real server while its access log is kept; then neither the
    ids nor the row order of the export can be lined up with what the log holds."""
    import uvicorn

    from tests.conftest import _free_port

    access = logging.getLogger("uvicorn.access")
    kept = _Lines()
    port = _free_port()
    # The app is already running (the test client's lifespan): serve it without another one.
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="info", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        access.addHandler(kept)
        base = f"http://127.0.0.1:{port}"
        posted: list[str] = []
        with httpx.Client(base_url=base, timeout=30) as c:
            assert c.get(f"/s/{world.campaign_id}").status_code == 200
            assert c.get(f"/api/v1/campaigns/{world.campaign_id}/form").status_code == 200
            for i in range(12):
                body = response_body(answers=answers(1 + i % 5))
                r = c.post(f"/api/v1/campaigns/{world.campaign_id}/responses", json=body)
                assert r.status_code == 201, r.text
                posted.append(r.json()["id"])
            export = c.get(url(world, "csv"), headers=world.admin)
            assert export.status_code == 200
            campaign = c.get(f"/api/v1/campaigns/{world.campaign_id}", headers=world.admin)
            assert campaign.status_code == 200
    finally:
        access.removeHandler(kept)
        server.should_exit = True
        thread.join(timeout=10)
    resident = [line for line in kept.lines if "/responses HTTP" in line and "POST" in line]
    assert len(resident) == 12, kept.lines
    # The survey routes' lines carry no client address; an admin's read of a campaign does.
    for line in kept.lines:
        if "/s/" in line or "/form HTTP" in line or "/responses" in line:
            assert line.startswith("- - "), line
            assert "127.0.0.1" not in line
    assert [line for line in kept.lines if line.startswith("127.0.0.1:")] == [kept.lines[-1]]
    rows = list(csv.DictReader(io.StringIO(export.content.decode("utf-8-sig"))))
    ids = [row["response_id"] for row in rows]
    # Public ids only: the post's answer is the export's id, and neither is a number in order.
    assert sorted(ids) == sorted(posted) and len(set(ids)) == 12
    assert not any(i.isdigit() for i in ids)
    assert ids != posted  # rows are not listed in the order of arrival
    # No cell of the export appears in the log, and no column is a sequence of integers.
    log = "\n".join(kept.lines)
    for row in rows:
        assert row["response_id"] not in log
    for column in rows[0]:
        values = [row[column] for row in rows]
        if all(v.isdigit() for v in values):
            assert sorted(map(int, values)) != list(range(1, 13)), column
