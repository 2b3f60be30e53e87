"""Response rate of invitation campaigns: codes used / issued, overall and per batch."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect, text
from sqlmodel import Session, select

from service.db import alembic_config, upgrade, utcnow
from service.models import Role
from surveys.forms.models import Invitation
from tests.conftest import SECRETS, wipe
from tests.factories import headers_for
from tests.surveys.forms.factories import create_campaign, response_body
from tests.surveys.forms.fixtures import World

# The office's zone by default (service.localtime), in which unnamed batches are labelled.
LOCAL_TZ = ZoneInfo("Asia/Shanghai")


def _issue(client: TestClient, world: World, cid: int, n: int, batch: str | None) -> list[str]:
    body: dict[str, object] = {"count": n}
    if batch is not None:
        body["batch"] = batch
    r = client.post(f"/api/v1/campaigns/{cid}/invitations", json=body, headers=world.admin)
    assert r.status_code == 201, r.text
    codes: list[str] = r.json()["codes"]
    SECRETS.update(codes)  # never in a log line
    return codes


def _use(client: TestClient, cid: int, code: str) -> None:
    r = client.post(f"/api/v1/campaigns/{cid}/responses", json=response_body(invitation_code=code))
    assert r.status_code == 201, r.text


def test_response_rate_per_batch(client: TestClient, session: Session, world: World) -> None:
    cid = create_campaign(client, world.admin, world.survey_id, access="invitation")
    before = utcnow().astimezone(LOCAL_TZ).replace(second=0, microsecond=0)
    issued = {
        "街道A 第一批": _issue(client, world, cid, 5, "  街道A 第一批 "),
        "B": _issue(client, world, cid, 3, "B"),
    }
    default = _issue(client, world, cid, 4, None)
    after = utcnow().astimezone(LOCAL_TZ)
    used = {"街道A 第一批": issued["街道A 第一批"][:2], "B": issued["B"][:3]}
    for codes in used.values():
        for code in codes:
            _use(client, cid, code)
    _use(client, cid, default[0])

    evaluator = headers_for(client, session, Role.evaluator)
    r = client.get(f"/api/v1/campaigns/{cid}/response-rate", headers=evaluator)
    assert r.status_code == 200, r.text
    out = r.json()
    # The default label is the local time of creation, to the minute.
    label = out["batches"][2]["batch"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", label)
    stamp = datetime.strptime(label, "%Y-%m-%d %H:%M").replace(tzinfo=LOCAL_TZ)
    assert before <= stamp <= after
    issued[label], used[label] = default, default[:1]
    # Recomputed from what this test issued and used, batch by batch, in order of issue.
    expected = [
        {
            "batch": b,
            "issued": len(issued[b]),
            "used": len(used[b]),
            "rate": len(used[b]) / len(issued[b]),
        }
        for b in ("街道A 第一批", "B", label)
    ]
    assert out["batches"] == expected
    assert out["issued"] == 12 and out["used"] == 6 and out["rate"] == 0.5
    # The stored rows agree, and a code still has no time and no link to a response.
    rows = session.exec(
        select(Invitation.batch, Invitation.used).where(Invitation.campaign_id == cid)
    ).all()
    assert sum(1 for b, u in rows if b == "B" and u) == 3
    columns = {c["name"] for c in inspect(session.get_bind()).get_columns("invitation")}
    # Nothing of when a code was used or by which response: the batch, and for a democratic
    # evaluation the rater group, are both chosen when the codes are made.
    assert columns == {"id", "campaign_id", "code_hash", "used", "batch", "rater_group"}
    # Admins read it too.
    assert client.get(f"/api/v1/campaigns/{cid}/response-rate", headers=world.admin).json() == out


def test_response_rate_without_codes_and_errors(
    client: TestClient, session: Session, world: World
) -> None:
    cid = create_campaign(client, world.admin, world.survey_id, access="invitation")
    url = f"/api/v1/campaigns/{cid}/response-rate"
    r = client.get(url, headers=world.admin)
    assert r.status_code == 200
    assert r.json() == {"issued": 0, "used": 0, "rate": None, "batches": []}
    assert client.get(url).status_code == 401
    deputy = headers_for(client, session, Role.deputy)
    assert client.get(url, headers=deputy).status_code == 403
    assert client.get("/api/v1/campaigns/999/response-rate", headers=world.admin).status_code == 404
    assert client.get("/api/v1/campaigns/x/response-rate", headers=world.admin).status_code == 422
    # An open campaign has no codes: 409, not a rate of zero.
    r = client.get(f"/api/v1/campaigns/{world.campaign_id}/response-rate", headers=world.admin)
    assert r.status_code == 409
    # A batch label is at most 64 characters.
    r = client.post(
        f"/api/v1/campaigns/{cid}/invitations",
        json={"count": 1, "batch": "x" * 65},
        headers=world.admin,
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "batch"]


def test_batch_migration_round_trip(database_url: str) -> None:
    """Codes issued before batches existed keep their rows and form one unlabelled batch."""
    cfg = alembic_config(database_url)
    engine = create_engine(database_url)
    now = utcnow()
    try:
        command.downgrade(cfg, "0005")
        assert "batch" not in {c["name"] for c in inspect(engine).get_columns("invitation")}
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO survey (id, title, title_en, description, version, frozen, created_at)"
                    " VALUES (901, 's', '', '', 1, false, :t)"
                ),
                {"t": now},
            )
            conn.execute(
                text(
                    "INSERT INTO campaign (id, survey_id, title, title_en, opens_at, closes_at, access, created_at)"
                    " VALUES (902, 901, 'c', '', :t, :u, 'invitation', :t)"
                ),
                {"t": now, "u": now + timedelta(days=1)},
            )
            conn.execute(
                text(
                    "INSERT INTO invitation (campaign_id, code_hash, used) VALUES"
                    " (902, 'h1', true), (902, 'h2', false)"
                )
            )
        upgrade(database_url)
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT batch, used FROM invitation ORDER BY code_hash")).all()
        assert [(b, bool(u)) for b, u in rows] == [("", True), ("", False)]
        command.downgrade(cfg, "0005")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM invitation")).scalar() == 2
    finally:
        upgrade(database_url)
        wipe(engine)
        engine.dispose()


def _hidden(html: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert m, name
    return m.group(1)


def test_admin_page_shows_batches(client: TestClient, session: Session, world: World) -> None:
    cid = create_campaign(client, world.admin, world.survey_id, access="invitation")
    codes = _issue(client, world, cid, 4, "第一批")
    _use(client, cid, codes[0])
    # The page's form names a batch too (a cookie session, with its CSRF token).
    login = client.get("/login").text
    r = client.post(
        "/login",
        data={
            "username": "admin1",
            "password": "correct-horse-battery",
            "csrf_token": _hidden(login, "csrf_token"),
        },
        follow_redirects=False,
    )
    assert r.status_code in (302, 303), r.text
    token = _hidden(client.get(f"/admin/campaigns/{cid}").text, "csrf_token")
    r = client.post(
        f"/admin/campaigns/{cid}/invitations",
        data={"count": "2", "batch": "社区张贴", "csrf_token": token},
    )
    assert r.status_code == 201, r.text
    SECRETS.update(re.findall(r'<p class="qr-code">([A-Z0-9-]{14})</p>', r.text))
    page = client.get(f"/admin/campaigns/{cid}?lang=en").text
    table = page[page.index('id="response-rate"') :]
    rows = re.findall(
        r"<tr><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td></tr>", table
    )
    assert rows == [("第一批", "4", "1", "25.0%"), ("社区张贴", "2", "0", "0.0%")]
    assert "<th>6</th><th>1</th><th>16.7%</th>" in table


def test_dashboard_headline_and_report(client: TestClient, session: Session, world: World) -> None:
    cid = create_campaign(client, world.admin, world.survey_id, access="invitation")
    codes = _issue(client, world, cid, 6, "A") + _issue(client, world, cid, 2, "B")
    for code in (codes[0], codes[1], codes[6]):
        _use(client, cid, code)
    evaluator = headers_for(client, session, Role.evaluator)
    head = client.get("/api/v1/dashboard", params={"campaign_id": cid}, headers=evaluator).json()[
        "headline"
    ]
    # 3 of the 8 codes this test issued were used.
    assert head["response_rate"] == 3 / 8
    assert head["response_rate_text"] == "37.5%" and head["response_rate_counts"] == "3 / 8"
    r = client.get(f"/api/v1/reports/{cid}", params={"lang": "en"}, headers=evaluator)
    assert r.status_code == 200
    assert 'id="response-rate"' in r.text and "37.5%" in r.text and "3 / 8" in r.text
    # An open campaign has no codes: no response rate in its headline or report.
    params = {"campaign_id": world.campaign_id}
    head = client.get("/api/v1/dashboard", params=params, headers=evaluator).json()["headline"]
    assert head["response_rate"] is None and head["response_rate_text"] == ""
    r = client.get(f"/api/v1/reports/{world.campaign_id}", headers=evaluator)
    assert r.status_code == 200 and 'id="response-rate"' not in r.text
