"""The console's subjects (/admin/subjects) and democratic evaluations (the new-evaluation form,
its configuration until it opens, codes per rater group): pages for an admin, errors beside
their fields, writes through the API's functions and audited."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from service.db import utcnow
from service.localtime import zone
from service.models import Role
from surveys.evaluation.imports import template_workbook
from surveys.evaluation.models import EvaluationSubject
from surveys.forms.models import Campaign
from tests.factories import make_user
from tests.frontend.test_admin_units import audit_actions, field_errors, sign_in
from tests.surveys.forms.factories import make_units


def _admin(app: FastAPI, client: TestClient) -> str:
    with Session(app.state.engine, expire_on_commit=False) as s:
        make_units(s)
        admin = make_user(s, Role.admin, "boss")
    return sign_in(app, client, admin)


def _local(app: FastAPI, delta: timedelta) -> str:
    office = zone(app.state.settings.time_zone)
    return (utcnow() + delta).astimezone(office).strftime("%Y-%m-%dT%H:%M")


def _subjects(app: FastAPI) -> list[EvaluationSubject]:
    with Session(app.state.engine, expire_on_commit=False) as s:
        return list(s.exec(select(EvaluationSubject).order_by(EvaluationSubject.id)))  # type: ignore[arg-type]


def test_subjects_page_add_edit_deactivate_and_import(app: FastAPI, client: TestClient) -> None:
    csrf = _admin(app, client)
    page = client.get("/admin/subjects")
    assert page.status_code == 200 and "测评对象" in page.text
    base = {"csrf_token": csrf, "kind": "leader", "post": "局长", "unit_code": "dept-civil"}
    refused = client.post(
        "/admin/subjects",
        data={**base, "name": "", "term_start": "2025-01-01", "term_end": "2024-01-01"},
    )
    assert refused.status_code == 422
    assert set(field_errors(refused.text)) >= {"name"}
    done = client.post("/admin/subjects", data={**base, "name": "张明"}, follow_redirects=False)
    assert done.status_code == 303
    again = client.post("/admin/subjects", data={**base, "name": "张明"})
    assert again.status_code == 409 and "name" in field_errors(again.text)
    (subject,) = _subjects(app)
    edit = client.get(f"/admin/subjects/{subject.id}")
    assert edit.status_code == 200 and 'value="张明"' in edit.text
    saved = client.post(
        f"/admin/subjects/{subject.id}",
        data={**base, "name": "张明", "post": "党组书记、局长", "term_start": "2024-01-01"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    off = client.post(
        f"/admin/subjects/{subject.id}/active",
        data={"csrf_token": csrf, "active": "0"},
        follow_redirects=False,
    )
    assert off.status_code == 303
    (subject,) = _subjects(app)
    assert (subject.post, subject.is_active, str(subject.term_start)) == (
        "党组书记、局长",
        False,
        "2024-01-01",
    )

    bad = "kind,name,post,unit_code\nleader,李华,,nowhere\n".encode()
    preview = client.post(
        "/admin/subjects/import",
        data={"csrf_token": csrf},
        files={"file": ("s.csv", bad, "text/csv")},
    )
    assert (
        preview.status_code == 200
        and "err-2-unit_code" in preview.text
        and "confirm" not in preview.text
    )
    good = client.post(
        "/admin/subjects/import",
        data={"csrf_token": csrf},
        files={"file": ("s.xlsx", template_workbook())},
    )
    assert good.status_code == 200 and "/admin/subjects/import/confirm" in good.text
    rows = re.search(r'name="rows" value="([^"]*)"', good.text)
    assert rows is not None
    import html

    confirmed = client.post(
        "/admin/subjects/import/confirm",
        data={"csrf_token": csrf, "rows": html.unescape(rows.group(1)), "filename": "s.xlsx"},
        follow_redirects=False,
    )
    assert confirmed.status_code == 303
    assert len(_subjects(app)) == 3
    actions = audit_actions(app)
    assert {"subject.create", "subject.update", "subject.import"} <= set(actions)


def _form(csrf: str, app: FastAPI, ids: list[int], **extra: str) -> dict[str, object]:
    page_defaults = {
        "csrf_token": csrf,
        "title": "2026年度民主测评",
        "opens_at": _local(app, timedelta(days=1)),
        "closes_at": _local(app, timedelta(days=8)),
        "subject_ids": [str(i) for i in ids],
        "overall": "1",
        "unknown.label": "不了解",
        "groups.n": "2",
        "groups.0.key": "staff",
        "groups.0.label": "干部职工",
        "groups.0.weight": "40",
        "groups.1.key": "served",
        "groups.1.label": "服务对象",
        "groups.1.weight": "60",
        "scale.n": "3",
        "scale.0.key": "good",
        "scale.0.label": "满意",
        "scale.0.points": "100",
        "scale.1.key": "fair",
        "scale.1.label": "基本满意",
        "scale.1.points": "75",
        "scale.2.key": "bad",
        "scale.2.label": "不满意",
        "scale.2.points": "55",
        "items.n": "1",
        "items.0.key": "",
        "items.0.label": "",
        "rules.n": "1",
        "rules.0.key": "talk",
        "rules.0.label": "诫勉谈话",
        "rules.0.grades": ["bad"],
        "rules.0.op": "gt",
        "rules.0.share": "1/3",
        "rules.0.item": "overall",
    }
    return page_defaults | extra


def test_new_evaluation_form_then_codes_per_group(app: FastAPI, client: TestClient) -> None:
    csrf = _admin(app, client)
    for name in ("民政局领导班子", "人社局领导班子"):
        client.post("/admin/subjects", data={"csrf_token": csrf, "kind": "team", "name": name})
    ids = [s.id or 0 for s in _subjects(app)]
    new = client.get("/admin/campaigns/new-evaluation")
    assert new.status_code == 200
    assert 'value="德"' in new.text and 'value="班子成员"' in new.text and 'value="2/3"' in new.text
    assert "/admin/campaigns/new-evaluation" in client.get("/admin/campaigns/new").text

    refused = client.post(
        "/admin/campaigns/new-evaluation",
        data=_form(csrf, app, ids, **{"groups.1.weight": "-5", "rules.0.share": "3/2"}),
    )
    assert refused.status_code == 422
    assert {"groups.1.weight", "rules.0.share"} <= {
        k.replace("-", ".") for k in field_errors(refused.text)
    }
    assert 'value="不满意"' in refused.text  # the input is kept
    created = client.post(
        "/admin/campaigns/new-evaluation", data=_form(csrf, app, ids), follow_redirects=False
    )
    assert created.status_code == 303, created.text
    cid = int(created.headers["location"].split("/")[3].split("?")[0])
    with Session(app.state.engine) as s:
        c = s.get(Campaign, cid)
        assert c is not None and c.evaluation is not None
        assert [g["points"] for g in c.evaluation["scale"]] == [100, 75, 55]
        assert c.evaluation["items"] == [] and c.evaluation_hash

    # Before it opens the configuration can change; the page names the subjects chosen.
    edit = client.get(f"/admin/campaigns/{cid}/evaluation")
    assert edit.status_code == 200 and 'value="满意"' in edit.text
    saved = client.post(
        f"/admin/campaigns/{cid}/evaluation",
        data=_form(csrf, app, ids[:1], **{"groups.0.weight": "50"}),
        follow_redirects=False,
    )
    assert saved.status_code == 303

    detail = client.get(f"/admin/campaigns/{cid}")
    assert detail.status_code == 200 and 'name="rater_group"' in detail.text
    assert f'href="/admin/campaigns/{cid}/evaluation"' in detail.text and "已交 0 份" in detail.text
    no_group = client.post(
        f"/admin/campaigns/{cid}/invitations",
        data={"csrf_token": csrf, "count": "3", "format": "sheet"},
    )
    assert no_group.status_code == 422 and "rater_group" in field_errors(no_group.text)
    sheet = client.post(
        f"/admin/campaigns/{cid}/invitations",
        data={"csrf_token": csrf, "count": "3", "format": "sheet", "rater_group": "served"},
    )
    assert (
        sheet.status_code == 201
        and sheet.text.count('class="qr-group"') == 3
        and "服务对象" in sheet.text
    )
    assert "campaign.evaluation" in audit_actions(app)

    # Every weighted group is under k codes: the page warns that each will be pooled.
    detail = client.get(f"/admin/campaigns/{cid}")
    assert "已发邀请码 3 个" in detail.text
    warned = detail.text.count('data-testid="few-codes"')
    assert warned >= 2
    more = client.post(
        f"/admin/campaigns/{cid}/invitations",
        data={"csrf_token": csrf, "count": "2", "format": "csv", "rater_group": "served"},
    )
    assert more.status_code == 201
    detail = client.get(f"/admin/campaigns/{cid}?lang=en")
    assert "5 codes issued" in detail.text and "Fewer than 5 raters" in detail.text
    assert detail.text.count('data-testid="few-codes"') == warned - 1


def test_subjects_page_is_the_organisation_departments_too(
    app: FastAPI, client: TestClient
) -> None:
    with Session(app.state.engine, expire_on_commit=False) as s:
        make_units(s)
        org = make_user(s, Role.organisation, "zzb")
        evaluator = make_user(s, Role.evaluator, "kpb")
    csrf = sign_in(app, client, org)
    assert client.get("/admin/subjects").status_code == 200
    done = client.post(
        "/admin/subjects",
        data={"csrf_token": csrf, "kind": "team", "name": "民政局领导班子"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    sign_in(app, client, evaluator)
    assert client.get("/admin/subjects").status_code == 403
