"""Response imports (JSON and CSV): all or nothing, every bad row named, marked as imported."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta, timezone

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from service.audit import AuditEntry
from service.db import utcnow
from service.models import Role
from surveys.forms.models import Answer, SurveyResponse
from tests.factories import headers_for
from tests.surveys.forms.factories import answers, create_campaign, response_body
from tests.surveys.forms.fixtures import World


def url(cid: int) -> str:
    return f"/api/v1/campaigns/{cid}/responses/import"


BEIJING = timezone(timedelta(hours=8))
EARLIER = (utcnow() - timedelta(hours=5)).replace(minute=30, second=0, microsecond=0)


def paper(n: int) -> list[dict[str, object]]:
    rows = []
    for i in range(n):
        row = response_body(unit_code=["dept-civil", "dept-hrss", "win-social"][i % 3])
        row.pop("submission_id")
        row["answers"] = answers(1 + i % 5, recommend=i % 11)
        row["submitted_at"] = EARLIER.astimezone(BEIJING).isoformat() if i % 2 else None
        rows.append(row)
    return rows


def test_json_import(client: TestClient, session: Session, world: World) -> None:
    r = client.post(url(world.campaign_id), json=paper(25), headers=world.admin)
    assert r.status_code == 201, r.text
    assert r.json() == {"imported": 25}
    rows = session.exec(select(SurveyResponse)).all()
    assert len(rows) == 25 and {x.source for x in rows} == {"import"}
    timed = [x for x in rows if x.submitted_hour == EARLIER.replace(minute=0)]
    assert len(timed) == 12  # given in Beijing time, stored as its UTC hour
    n = len(session.exec(select(Answer)).all())
    assert n == 25 * 6  # five ratings and recommend
    audit = session.exec(select(AuditEntry).where(AuditEntry.action == "responses.import")).one()
    assert '"rows": 25' in audit.detail


def test_one_bad_row_rejects_all_and_every_bad_row_is_named(
    client: TestClient, session: Session, world: World
) -> None:
    rows = paper(10)
    rows[2]["unit_code"] = "nope"
    rows[4]["answers"] = {"attitude": 9}  # out of range, and the other ratings missing
    rows[7]["profile"] = {"age_band": "ancient"}
    rows[8]["submitted_at"] = "2020-01-01T00:00:00+00:00"
    rows[9]["surprise"] = 1
    r = client.post(url(world.campaign_id), json=rows, headers=world.admin)
    assert r.status_code == 422
    detail = r.json()["detail"]
    bad = {(e["loc"][1], e["loc"][2] if len(e["loc"]) > 2 else None) for e in detail}
    assert (3, "unit_code") in bad
    assert (5, "answers") in bad
    assert (8, "profile") in bad
    assert (9, "submitted_at") in bad
    assert (10, "surprise") in bad
    assert {e["loc"][1] for e in detail} == {3, 5, 8, 9, 10}
    assert session.exec(select(SurveyResponse)).first() is None


def test_csv_import_with_line_numbers(client: TestClient, session: Session, world: World) -> None:
    lines = [
        "unit_code,attitude,efficiency,transparency,integrity,results,channel,online_issue,comment,age_band,submitted_at",
        "dept-civil,5,4,4,5,4,online,slow login,窗口工作人员态度很好，耐心解答,30-39,"
        + EARLIER.isoformat(),
        "win-social,2,1,2,3,2,hall,,办事效率太低，跑了三趟还没办好,60-69,",
    ]
    csv_text = "\ufeff" + "\n".join(lines) + "\n"
    r = client.post(
        url(world.campaign_id),
        files={"file": ("paper.csv", csv_text.encode("utf-8"), "text/csv")},
        headers=world.admin,
    )
    assert r.status_code == 201, r.text
    assert r.json() == {"imported": 2}
    stored = {
        a.question_key: a.value_text
        for a in session.exec(select(Answer).where(Answer.response_id == 1))
    }
    assert stored["online_issue"] == "login slow"
    bad = csv_text.replace("win-social,2,", "win-social,7,").replace(",hall,", ",fax,")
    r = client.post(
        url(world.campaign_id),
        content=bad.encode(),
        headers={**world.admin, "content-type": "text/csv"},
    )
    assert r.status_code == 422
    assert {(e["loc"][1], e["loc"][3]) for e in r.json()["detail"]} == {
        (3, "attitude"),
        (3, "channel"),
    }
    r = client.post(
        url(world.campaign_id),
        content=b"unit_code,colour\ndept-civil,red\n",
        headers={**world.admin, "content-type": "text/csv"},
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["row", 1, "colour"]


def test_submission_ids_make_reimport_safe(
    client: TestClient, session: Session, world: World
) -> None:
    rows = paper(3)
    for row in rows:
        row["submission_id"] = str(uuid.uuid4())
    assert client.post(url(world.campaign_id), json=rows, headers=world.admin).status_code == 201
    again = client.post(url(world.campaign_id), json=rows, headers=world.admin)
    assert again.status_code == 422 and "already stored" in again.text
    rows.append(dict(rows[0]))
    r = client.post(
        url(create_campaign(client, world.admin, world.survey_id)), json=rows, headers=world.admin
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][:3] == ["row", 4, "submission_id"]
    assert len(session.exec(select(SurveyResponse)).all()) == 3


def test_import_needs_admin_and_valid_body(
    client: TestClient, session: Session, world: World
) -> None:
    assert client.post(url(world.campaign_id), json=paper(1)).status_code == 401
    ev = headers_for(client, session, Role.evaluator, "eva")
    assert client.post(url(world.campaign_id), json=paper(1), headers=ev).status_code == 403
    assert client.post(url(999), json=paper(1), headers=world.admin).status_code == 404
    r = client.post(
        url(world.campaign_id),
        content=b"{not json",
        headers={**world.admin, "content-type": "application/json"},
    )
    assert r.status_code == 422
    r = client.post(url(world.campaign_id), json={"unit_code": "x"}, headers=world.admin)
    assert r.status_code == 422 and "array" in r.text
    # Invitation campaigns take imports without codes (answers given on paper or by phone).
    inv = create_campaign(client, world.admin, world.survey_id, access="invitation")
    assert client.post(url(inv), json=paper(2), headers=world.admin).status_code == 201


def test_imports_and_web_share_the_statistics_contract(
    client: TestClient, world: World, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from surveys.forms import stats

    seen: list[int] = []
    monkeypatch.setattr(
        stats, "record_batch", lambda conn, batch: seen.extend(b["response_id"] for b in batch)
    )
    r = client.post(url(world.campaign_id), json=paper(5), headers=world.admin)
    assert r.status_code == 201 and len(seen) == 5
    assert json.dumps(seen)
