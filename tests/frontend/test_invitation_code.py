"""The invitation code is checked at the code step, and a wrong one is shown at its field."""

# ruff: noqa: F811  (pytest fixtures imported from tests/surveys/forms/fixtures.py)

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from service.models import Role
from tests.factories import headers_for
from tests.frontend.test_survey_page import _form_fields, full
from tests.surveys.forms.factories import create_campaign, create_survey, make_units
from tests.surveys.forms.fixtures import World, admin, world  # noqa: F401 (fixtures used here)


def _code_error(html: str) -> str:
    """The message shown beside the code field, or ""."""
    m = re.search(
        r'<p class="field-error" id="err-(?:code|invitation_code)"[^>]*>([^<]*)</p>', html
    )
    return m.group(1).strip() if m else ""


def _invitation_campaign(client: TestClient, world: World) -> tuple[int, str]:
    cid = create_campaign(
        client, world.admin, world.survey_id, access="invitation", unit_codes=["win-social"]
    )
    codes = client.post(
        f"/api/v1/campaigns/{cid}/invitations", json={"count": 1}, headers=world.admin
    ).json()["codes"]
    return cid, codes[0]


def test_mistyped_code_is_refused_at_the_code_step(client: TestClient, world: World) -> None:
    cid, code = _invitation_campaign(client, world)
    wrong = "ZZZZ-ZZZZ-ZZZZ"
    r = client.get(f"/s/{cid}", params={"code": wrong})
    assert r.status_code == 422
    assert _code_error(r.text) == "邀请码无效，请核对后重新输入"
    assert f'value="{wrong}"' in r.text  # what was typed stays in the field
    assert "survey.err.code" not in r.text and "您对「社保窗口」的评价" not in r.text
    en = client.get(f"/s/{cid}", params={"code": wrong, "lang": "en"})
    assert _code_error(en.text).startswith("This invitation code is not valid")
    # The right code, typed loosely (case, spaces), goes on to the questions.
    ok = client.get(f"/s/{cid}", params={"code": code.lower().replace("-", " "), "lang": "zh-CN"})
    assert ok.status_code == 200 and "您对「社保窗口」的评价" in ok.text
    assert not _code_error(ok.text)


def test_used_code_reads_as_invalid_and_tells_nothing_more(
    client: TestClient, world: World
) -> None:
    cid, code = _invitation_campaign(client, world)
    page = client.get(f"/s/{cid}", params={"code": code}).text
    fields = _form_fields(page, **full())
    fields["invitation_code"] = code
    assert client.post(f"/s/{cid}", data=fields, follow_redirects=False).status_code == 303
    used = client.get(f"/s/{cid}", params={"code": code})
    unknown = client.get(f"/s/{cid}", params={"code": "ZZZZ-ZZZZ-ZZZZ"})
    assert used.status_code == unknown.status_code == 422
    assert _code_error(used.text) == _code_error(unknown.text) == "邀请码无效，请核对后重新输入"
    # A code of another campaign is no code of this one.
    other, other_code = _invitation_campaign(client, world)
    assert client.get(f"/s/{cid}", params={"code": other_code}).status_code == 422
    assert client.get(f"/s/{other}", params={"code": other_code}).status_code == 200


def test_wrong_code_in_the_posted_form_is_marked_and_answers_kept(
    client: TestClient, world: World
) -> None:
    cid, code = _invitation_campaign(client, world)
    page = client.get(f"/s/{cid}", params={"code": code}).text
    fields = _form_fields(page, **full(comment="排队时间太长"))
    fields["invitation_code"] = "ABCD-EFGH-JKLM"
    r = client.post(f"/s/{cid}", data=fields)
    assert r.status_code == 422
    assert _code_error(r.text) == "邀请码无效，请核对后重新输入"
    assert 'id="q-invitation_code"' in r.text and "has-error" in r.text
    assert 'value="ABCD-EFGH-JKLM"' in r.text and "排队时间太长" in r.text
    # Corrected in place, the same form goes through.
    fields["invitation_code"] = code
    assert client.post(f"/s/{cid}", data=fields, follow_redirects=False).status_code == 303


def test_code_checks_are_rate_limited(make_app: Callable[..., FastAPI]) -> None:
    app = make_app(rate_limit="3/minute")
    with TestClient(app) as client, Session(app.state.engine) as session:
        make_units(session)
        admin = headers_for(client, session, Role.admin)
        cid = create_campaign(client, admin, create_survey(client, admin), access="invitation")
        statuses = [
            client.get(f"/s/{cid}", params={"code": f"WRONG-{i}"}).status_code for i in range(4)
        ]
        assert statuses == [422, 422, 422, 429]
        # The prompt itself (no code yet) is not counted.
        assert client.get(f"/s/{cid}").status_code == 200
