"""The console's campaign pages in the test client: who may open them, creating and editing a
campaign with errors beside their fields, opening and closing early, invitation codes as a
sheet and as files, margins checked row by row, and the paper import's preview and confirm."""

# ruff: noqa: F811  (pytest fixtures imported from tests/surveys/forms/fixtures.py)

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx2 import Response
from openpyxl import Workbook, load_workbook
from sqlmodel import Session, col, select

from service.db import utcnow
from service.localtime import zone
from service.models import Role
from surveys.forms.models import Campaign, Invitation, SurveyResponse
from tests.conftest import SECRETS
from tests.factories import make_user
from tests.frontend.test_admin_pages import as_user, audit_actions, field_errors
from tests.surveys.forms.factories import create_campaign, response_body
from tests.surveys.forms.fixtures import World, admin, world  # noqa: F401 (fixtures used here)

TZ = "Asia/Shanghai"


def local(delta: timedelta) -> str:
    """A datetime-local input's value, ``delta`` from now, in the office's zone."""
    return (utcnow() + delta).astimezone(zone(TZ)).strftime("%Y-%m-%dT%H:%M")


def console(app: FastAPI, client: TestClient, session: Session) -> str:
    """Log the client in as a console admin; returns the CSRF token."""
    return as_user(app, client, make_user(session, Role.admin, "boss"))


def campaign(session: Session, cid: int) -> Campaign:
    session.expire_all()
    found = session.get(Campaign, cid)
    assert found is not None
    return found


def test_only_admins_open_the_campaign_pages(
    app: FastAPI, client: TestClient, session: Session, world: World
) -> None:
    paths = ("/admin/campaigns", "/admin/campaigns/new", f"/admin/campaigns/{world.campaign_id}")
    for path in paths:
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    csrf = as_user(app, client, make_user(session, Role.evaluator))
    for path in paths:
        assert client.get(path).status_code == 403
    r = client.post(f"/admin/campaigns/{world.campaign_id}/close", data={"csrf_token": csrf})
    assert r.status_code == 403
    assert campaign(session, world.campaign_id).closes_at > utcnow()
    client.cookies.clear()
    console(app, client, session)
    r = client.get("/admin/campaigns")
    assert r.status_code == 200 and "2026年度评议" in r.text
    assert 'aria-current="page" class="current">评议活动' in r.text
    assert client.get("/admin/campaigns/999999").status_code == 404


def test_create_shows_each_error_beside_its_field_then_creates(
    app: FastAPI, client: TestClient, session: Session, world: World
) -> None:
    csrf = console(app, client, session)
    assert 'name="unit_codes" value="dept-civil"' in client.get("/admin/campaigns/new").text
    bad = {
        "csrf_token": csrf,
        "survey_id": "",
        "title": "",
        "title_en": "Kept",
        "opens_at": local(timedelta(days=2)),
        "closes_at": local(timedelta(days=1)),
        "access": "open",
    }
    r = client.post("/admin/campaigns", data=bad)
    assert r.status_code == 422
    errors = field_errors(r.text)
    assert {"survey_id", "title", "unit_codes"} <= set(errors)
    assert 'aria-describedby="err-title"' in r.text and 'value="Kept"' in r.text
    good = bad | {
        "survey_id": str(world.survey_id),
        "title": "新活动",
        "unit_codes": ["dept-civil", "win-social"],
        "profile_fields": ["sex"],
    }
    r = client.post("/admin/campaigns", data=good)
    assert r.status_code == 422 and set(field_errors(r.text)) == {"closes_at"}
    assert "结束时间须晚于开始时间" in r.text
    good["closes_at"] = local(timedelta(days=30))
    r = client.post("/admin/campaigns", data=good, follow_redirects=False)
    assert r.status_code == 303, r.text
    cid = int(re.findall(r"/admin/campaigns/(\d+)\?done=created", r.headers["location"])[0])
    made = campaign(session, cid)
    assert (made.title, made.title_en, made.profile_fields) == ("新活动", "Kept", ["sex"])
    assert made.opens_at.astimezone(zone(TZ)).strftime("%Y-%m-%dT%H:%M") == bad["opens_at"]
    assert ("boss", "campaign.create", str(cid)) in audit_actions(session)
    page = client.get(r.headers["location"])
    assert "已创建评议活动" in page.text and "未开始" in page.text


def test_edit_open_now_and_close_early(
    app: FastAPI, client: TestClient, session: Session, world: World
) -> None:
    csrf = console(app, client, session)
    cid = world.campaign_id
    stored = campaign(session, cid)
    r = client.post(
        f"/admin/campaigns/{cid}",
        data={"csrf_token": csrf, "title": "", "title_en": "x", "closes_at": "soon"},
    )
    assert r.status_code == 422 and set(field_errors(r.text)) == {"title", "closes_at"}
    early = input_time_of(stored.opens_at - timedelta(hours=1))
    r = client.post(
        f"/admin/campaigns/{cid}",
        data={"csrf_token": csrf, "title": "改名", "title_en": "", "closes_at": early},
    )
    assert r.status_code == 422 and set(field_errors(r.text)) == {"closes_at"}
    assert 'value="改名"' in r.text and campaign(session, cid).title == "2026年度评议"
    later = local(timedelta(days=60))
    r = client.post(
        f"/admin/campaigns/{cid}",
        data={"csrf_token": csrf, "title": "改名", "title_en": "Renamed", "closes_at": later},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert campaign(session, cid).title == "改名"
    assert "已保存活动设置" in client.get(r.headers["location"]).text

    # Closing early takes a confirmation step; the survey then refuses responses.
    page = client.get(f"/admin/campaigns/{cid}/close")
    assert page.status_code == 200 and "确认立即结束" in page.text
    r = client.post(
        f"/admin/campaigns/{cid}/close", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert r.status_code == 303 and campaign(session, cid).closes_at <= utcnow()
    assert (
        client.post(f"/api/v1/campaigns/{cid}/responses", json=response_body()).status_code == 410
    )
    assert (
        client.post(f"/admin/campaigns/{cid}/close", data={"csrf_token": csrf}).status_code == 409
    )
    assert [a for a in audit_actions(session) if a[1] == "campaign.update"] == [
        ("boss", "campaign.update", str(cid))
    ] * 2

    # A campaign not started yet can be opened now.
    later_id = create_campaign(
        client,
        world.admin,
        world.survey_id,
        opens_at=(utcnow() + timedelta(days=3)).isoformat(),
        closes_at=(utcnow() + timedelta(days=9)).isoformat(),
    )
    r = client.post(
        f"/admin/campaigns/{later_id}/open", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert r.status_code == 303 and campaign(session, later_id).opens_at <= utcnow()
    assert (
        client.post(f"/admin/campaigns/{later_id}/open", data={"csrf_token": csrf}).status_code
        == 409
    )


def input_time_of(value: object) -> str:
    assert hasattr(value, "astimezone")
    return value.astimezone(zone(TZ)).strftime("%Y-%m-%dT%H:%M")


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_invitation_codes_as_a_file(
    app: FastAPI, client: TestClient, session: Session, world: World, fmt: str
) -> None:
    csrf = console(app, client, session)
    cid = create_campaign(client, world.admin, world.survey_id, access="invitation")
    url = f"/admin/campaigns/{cid}/invitations"
    r = client.post(url, data={"csrf_token": csrf, "count": "0", "batch": "A", "format": fmt})
    assert r.status_code == 422 and set(field_errors(r.text)) == {"count"}
    assert 'value="A"' in r.text
    r = client.post(
        url, data={"csrf_token": csrf, "count": "3", "batch": "楼道张贴", "format": fmt}
    )
    assert r.status_code == 201 and r.headers["cache-control"] == "no-store"
    assert f"campaign-{cid}-codes.{fmt}" in r.headers["content-disposition"]
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    else:
        sheet = load_workbook(io.BytesIO(r.content)).worksheets[0]
        values = list(sheet.iter_rows(values_only=True))
        rows = [dict(zip(values[0], v, strict=True)) for v in values[1:]]
    SECRETS.update(str(row["code"]) for row in rows)
    assert len(rows) == 3 and {row["batch"] for row in rows} == {"楼道张贴"}
    assert all(str(row["url"]).endswith(f"/s/{cid}?code={row['code']}") for row in rows)
    issued = session.exec(select(Invitation).where(Invitation.campaign_id == cid)).all()
    assert len(issued) == 3 and {i.batch for i in issued} == {"楼道张贴"}
    assert ("boss", "invitation.create", str(cid)) in audit_actions(session)
    # An open campaign takes no codes.
    r = client.post(
        f"/admin/campaigns/{world.campaign_id}/invitations",
        data={"csrf_token": csrf, "count": "3", "format": fmt},
    )
    assert r.status_code == 409


def upload(client: TestClient, url: str, csrf: str, name: str, body: bytes) -> Response:
    return client.post(url, data={"csrf_token": csrf}, files={"file": (name, body)})


MARGINS_BAD = (
    "variable,category,share\n"
    "area,comm-a1,0.6\n"
    "area,nowhere,0.4\n"
    "age_band,18-29,-0.1\n"
    "height,tall,0.5\n"
    "sex,female,lots\n"
)
MARGINS_GOOD = (
    "variable,category,share\narea,comm-a1,0.6\narea,comm-a2,0.4\nsex,female,0.51\nsex,male,0.49\n"
)


def test_margins_are_checked_per_row_before_anything_is_saved(
    app: FastAPI, client: TestClient, session: Session, world: World
) -> None:
    csrf = console(app, client, session)
    cid = world.campaign_id
    url = f"/admin/campaigns/{cid}/margins"
    r = upload(client, url, csrf, "m.csv", MARGINS_BAD.encode())
    assert r.status_code == 422
    table = r.text[r.text.index('id="margin-errors"') :]
    rows = re.findall(r"<tr><td>(\d+)</td><td>(\w*)</td><td>([^<]*)</td></tr>", table)
    assert [(n, c) for n, c, _ in rows] == [
        ("3", "category"),
        ("4", "share"),
        ("5", "variable"),
        ("6", "share"),
    ]
    assert "未知类别" in rows[0][2] and "不能为负" in rows[1][2]
    assert campaign(session, cid).margins is None
    off = MARGINS_GOOD.replace("0.49", "0.3")
    r = upload(client, url, csrf, "m.csv", off.encode())
    assert r.status_code == 422 and "sex 的占比合计为 0.8100" in r.text
    # A department is a unit but not a place residents live in.
    r = upload(client, url, csrf, "m.csv", b"variable,category,share\narea,dept-civil,1\n")
    assert r.status_code == 422 and "未知类别" in r.text
    r = upload(client, url, csrf, "m.csv", b"a,b\n1,2\n")
    assert r.status_code == 422 and "variable,category,share" in r.text

    r = upload(client, url, csrf, "m.csv", MARGINS_GOOD.encode())
    assert r.status_code == 200 and "已保存人口结构" in r.text
    assert campaign(session, cid).margins == {
        "area": {"comm-a1": 0.6, "comm-a2": 0.4},
        "sex": {"female": 0.51, "male": 0.49},
    }
    # The same table as a workbook; then weighted results read it.
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for line in MARGINS_GOOD.replace("0.51", "0.5").replace("0.49", "0.5").splitlines():
        v, c, s = line.split(",")
        sheet.append([v, c, s if v == "variable" else float(s)])
    out = io.BytesIO()
    book.save(out)
    r = upload(client, url, csrf, "m.xlsx", out.getvalue())
    assert r.status_code == 200
    assert campaign(session, cid).margins["sex"] == {"female": 0.5, "male": 0.5}  # type: ignore[index]
    r = client.post(url, data={"csrf_token": csrf, "clear": "1"}, files={"file": ("", b"")})
    assert r.status_code == 200 and campaign(session, cid).margins is None


PAPER = (
    "unit_code,attitude,efficiency,transparency,integrity,results,channel,submitted_at\n"
    "dept-civil,5,4,4,5,4,hall,\n"
    "dept-hrss,4,4,3,4,4,online,\n"
)


def test_paper_import_previews_then_imports_on_confirm(
    app: FastAPI, client: TestClient, session: Session, world: World
) -> None:
    csrf = console(app, client, session)
    cid = world.campaign_id
    url = f"/admin/campaigns/{cid}/import"

    def stored() -> int:
        session.expire_all()
        return len(
            session.exec(select(SurveyResponse).where(col(SurveyResponse.campaign_id) == cid)).all()
        )

    bad = PAPER + "nowhere,9,4,4,5,4,car,\n"
    r = client.post(url, data={"csrf_token": csrf}, files={"file": ("p.csv", bad.encode())})
    assert r.status_code == 422
    errors = re.findall(r"<tr><td>(\d+)</td><td>([\w.]*)</td><td>([^<]*)</td></tr>", r.text)
    # Only the bad row is named, by its line in the file (the header is row 1).
    assert errors and {n for n, _, _ in errors} == {"4"}
    assert "<mark" in r.text and 'name="payload"' not in r.text and stored() == 0

    r = client.post(url, data={"csrf_token": csrf}, files={"file": ("p.csv", PAPER.encode())})
    assert r.status_code == 200 and "共 2 份答卷可以导入" in r.text
    assert stored() == 0  # the preview stores nothing
    payload = re.search(r'name="payload" value="([^"]+)"', r.text)
    assert payload
    confirm = {"csrf_token": csrf, "step": "confirm", "filename": "p.csv"}
    r = client.post(url, data=confirm | {"payload": payload.group(1)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("done=imported&n=2")
    assert stored() == 2
    assert ("boss", "responses.import", str(cid)) in audit_actions(session)
    page = client.get(r.headers["location"]).text
    assert "已导入 2 份答卷" in page
    by_unit = page[page.index('id="by-unit"') :]
    assert re.search(
        r"民政局 <span class=\"muted\">dept-civil</span></td><td class=\"num\">1</td>", by_unit
    )
    assert 'id="by-day"' in page
    r = client.post(url, data={"csrf_token": csrf}, files={"file": ("p.csv", b"")})
    assert r.status_code == 422 and 'id="import-errors"' in r.text


def test_exports_and_the_printed_sheet_are_linked(
    app: FastAPI, client: TestClient, session: Session, world: World
) -> None:
    csrf = console(app, client, session)
    page = client.get(f"/admin/campaigns/{world.campaign_id}?lang=en").text
    for href in ("responses?format=csv", "responses?format=xlsx", "codebook?format=csv"):
        assert f'href="/api/v1/campaigns/{world.campaign_id}/{href}"' in page
    assert f'href="/api/v1/reports/{world.campaign_id}"' in page
    cid = create_campaign(client, world.admin, world.survey_id, access="invitation")
    r = client.post(
        f"/admin/campaigns/{cid}/invitations",
        data={"csrf_token": csrf, "count": "2", "format": "sheet"},
    )
    assert r.status_code == 201 and r.text.count("<svg") == 2
    SECRETS.update(re.findall(r'<p class="qr-code">([A-Z0-9-]{14})</p>', r.text))
    assert 'class="console-nav"' in r.text  # inside the console (hidden when printed)


def test_the_import_api_has_the_same_dry_run(
    client: TestClient, session: Session, world: World
) -> None:
    url = f"/api/v1/campaigns/{world.campaign_id}/responses/import"
    csv_body = {"content": PAPER.encode(), "headers": world.admin | {"content-type": "text/csv"}}
    r = client.post(url, params={"dry_run": "true"}, **csv_body)  # type: ignore[arg-type]
    assert r.status_code == 200 and r.json() == {"imported": 2}
    session.expire_all()
    assert session.exec(select(SurveyResponse)).all() == []
    assert all(a[1] != "responses.import" for a in audit_actions(session))
    r = client.post(url, **csv_body)  # type: ignore[arg-type]
    assert r.status_code == 201 and r.json() == {"imported": 2}
