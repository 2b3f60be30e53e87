"""Every time a person reads is in the office's time zone (MINYI_TIME_ZONE), through one
helper; flag codes and the report's period are shown as words."""

# ruff: noqa: F811  (pytest fixtures imported from tests/surveys/forms/fixtures.py)

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlmodel import Session, select

from service.config import Settings
from service.localtime import local_time
from surveys.forms.models import SurveyResponse
from surveys.voting.models import VotingSession
from tests.frontend.test_voting_pages import build, finish
from tests.surveys.forms.factories import create_campaign, response_body
from tests.surveys.forms.fixtures import World, admin, world  # noqa: F401 (fixtures used here)


def test_local_time_helper() -> None:
    at = datetime(2026, 12, 31, 17, 30, tzinfo=UTC)
    assert local_time(at) == "2027-01-01 01:30"  # Asia/Shanghai, UTC+8
    assert local_time(at, "Europe/London", "%Y-%m-%d %H:%M") == "2026-12-31 17:30"
    assert local_time(at.replace(tzinfo=None), "Asia/Shanghai", "%H") == "01"  # naive = UTC
    assert local_time(None) == ""
    assert Settings(secret_key="x" * 40).time_zone == "Asia/Shanghai"
    with pytest.raises(ValidationError, match="time zone"):
        Settings(secret_key="x" * 40, time_zone="Mars/Olympus")


def test_scheduled_survey_names_the_local_opening(
    make_app: Callable[..., FastAPI], client: TestClient, world: World
) -> None:
    later = create_campaign(
        client,
        world.admin,
        world.survey_id,
        opens_at="2099-01-01T08:00:00+08:00",
        closes_at="2099-02-01T00:00:00+08:00",
    )
    r = client.get(f"/s/{later}")
    assert r.status_code == 409 and "2099-01-01 08:00" in r.text and "UTC" not in r.text
    # Another office's zone is honoured: the same instant is midnight in London.
    with TestClient(make_app(time_zone="Europe/London")) as london:
        assert "2099-01-01 00:00" in london.get(f"/s/{later}").text


def test_admin_campaign_page_local_dates_and_flag_words(
    client: TestClient, session: Session, world: World
) -> None:
    cid = create_campaign(
        client,
        world.admin,
        world.survey_id,
        opens_at="2026-01-01T00:00:00+08:00",  # 2025-12-31 16:00 UTC
        closes_at="2099-12-31T23:00:00+08:00",
    )
    post = client.post(f"/api/v1/campaigns/{cid}/responses", json=response_body())
    assert post.status_code == 201, post.text
    row = session.exec(select(SurveyResponse).where(SurveyResponse.campaign_id == cid)).one()
    row.flags = "too_fast,straight_line,duplicate_comment"
    row.flagged = True
    session.add(row)
    session.commit()
    page = client.get(f"/admin/campaigns/{cid}", headers=world.admin).text
    assert "2026-01-01 – 2099-12-31" in page and "UTC" not in page
    assert "作答过快、所有题目同一选项、意见与他人重复" in page
    assert "too_fast" not in page and "straight_line" not in page
    hour = local_time(row.submitted_hour, "Asia/Shanghai", "%Y-%m-%d %H:00")
    assert hour in page
    en = client.get(f"/admin/campaigns/{cid}?lang=en", headers=world.admin).text
    assert "Answered too fast, Same answer to every question" in en


def test_results_page_publication_time_is_local(app: FastAPI, client: TestClient) -> None:
    vote = build(app)
    p = vote.project_ids
    finish(app, vote, [{p[0]: "for", p[1]: "for", p[2]: "for", p[3]: "against"}] * 6)
    with Session(app.state.engine) as s:
        vs = s.get(VotingSession, vote.sid)
        assert vs is not None and vs.published_at is not None
        shown = local_time(vs.published_at)
    r = client.get(f"/results/{vote.sid}")
    assert r.status_code == 200 and shown in r.text and "UTC" not in r.text
    assert "均等份额法" in r.text and "平等份额法" not in r.text


def test_report_names_its_period_and_local_generation_time(
    client: TestClient, world: World
) -> None:
    r = client.get(f"/api/v1/reports/{world.campaign_id}", headers=world.admin)
    assert r.status_code == 200
    assert "时间粒度 按月" in r.text and "时间粒度 month" not in r.text
    assert " UTC" not in r.text.split("生成时间", 1)[1][:40]
    en = client.get(f"/api/v1/reports/{world.campaign_id}?lang=en", headers=world.admin)
    assert "Time step month" in en.text
