"""The rater's page: the survey's code step leads to the sheet; a plain form post stores it."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session

from service.models import Role
from tests.factories import headers_for
from tests.surveys.evaluation.factories import ITEMS, codes, create_evaluation, make_subjects
from tests.surveys.forms.factories import make_units


def test_code_page_leads_to_the_sheet_which_is_sent_once(
    client: TestClient, session: Session
) -> None:
    make_units(session)
    admin = headers_for(client, session, Role.admin)
    ids = make_subjects(client, admin)
    cid = create_evaluation(client, admin, ids)
    code = codes(client, admin, cid, "served", 1, in_url=True)[0]
    r = client.get(f"/s/{cid}?code={code}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith(f"/s/{cid}/evaluation?code=")
    page = client.get(r.headers["location"])
    assert page.status_code == 200
    html = page.text
    assert "服务对象" in html and "张明" in html and "不了解" in html and "总体评价" in html
    assert html.count('type="radio"') == len(ids) * len(ITEMS) * 5
    form = {"code": code} | {f"g.{s}.{q}": "competent" for s in ids for q in ITEMS}
    missing = dict(form)
    del missing[f"g.{ids[0]}.de"]
    r = client.post(f"/s/{cid}/evaluation", data=missing)
    assert r.status_code == 422 and f'id="err-{ids[0]}-de"' in r.text
    assert 'value="competent" required checked' in r.text  # what was chosen stays chosen
    assert client.post(f"/s/{cid}/evaluation", data=form).status_code == 201
    assert client.post(f"/s/{cid}/evaluation", data=form).status_code == 409
    assert client.get(f"/s/{cid}/evaluation?code=WRONG-CODE").status_code == 422
