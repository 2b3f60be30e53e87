"""The assessment pages in Chromium: axe finds no serious violation in either language, and
nothing scrolls sideways on a 360 px phone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from analytics.assessment import sources
from service.auth import SESSION_COOKIE
from service.models import Role
from tests.analytics import conftest as analytics_fixtures
from tests.analytics.assessment import conftest as assessment_fixtures
from tests.analytics.assessment.conftest import World
from tests.factories import make_user
from tests.frontend.axe import describe, violations
from tests.frontend.test_voting_pages import cookie_for

pytestmark = pytest.mark.browser

synthetic = analytics_fixtures.synthetic
world = assessment_fixtures.world
evaluation_scores = assessment_fixtures.evaluation_scores


def test_assessment_pages_pass_axe_and_fit_a_phone(
    app: FastAPI,
    client: TestClient,
    session: Session,
    world: World,
    evaluation_scores: dict[int, sources.Measured],
    new_page: Callable[..., Any],
    live_server: str,
) -> None:
    body = {
        "year": 2026,
        "title": "2026 年度班子考核",
        "public_campaign_ids": [world.syn.campaign_id],
    }
    aid = client.post("/api/v1/assessments", json=body, headers=world.org).json()["id"]
    for i, t in enumerate(world.teams[:3]):
        for src in ("results", "reform"):
            r = client.post(
                f"/api/v1/assessments/{aid}/scores",
                json={
                    "subject_id": t,
                    "source": src,
                    "score": 70 + 6 * i,
                    "source_text": "区考核办",
                },
                headers=world.org,
            )
            assert r.status_code == 201
    for i, t in enumerate(world.teams):
        evaluation_scores[t] = sources.Measured(70.0 + 3 * i, 66.0 + 3 * i, 74.0 + 3 * i, 30)
    org = make_user(session, Role.organisation, "org3")
    paths = (
        "/admin/assessments",
        f"/admin/assessments/{aid}",
        f"/admin/assessments/{aid}/results",
        f"/admin/assessments/{aid}/subjects/{world.teams[0]}",
        f"/admin/assessments/{aid}/subjects/{world.teams[3]}",
    )
    failures: dict[str, str] = {}
    wide: dict[str, int] = {}
    for lang, width in (("zh-CN", 360), ("en", 1280), ("en", 360)):
        page = new_page(width=width, height=800)
        page.context.add_cookies(
            [{"name": SESSION_COOKIE, "value": cookie_for(app, org), "url": live_server}]
        )
        for path in paths:
            response = page.goto(f"{live_server}{path}?lang={lang}")
            assert response is not None and response.status == 200, path
            found = violations(page)
            if found:
                failures[f"{path} {lang} {width}"] = describe(found)
            if width == 360:
                scroll = page.evaluate("document.documentElement.scrollWidth")
                if scroll > 360:
                    wide[f"{path} {lang}"] = scroll
    assert not failures, "\n".join(f"{k}:\n{v}" for k, v in failures.items())
    assert not wide, wide
