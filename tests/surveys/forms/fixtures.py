"""Fixtures for the survey tests: an admin, a small unit tree, a survey and a campaign."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from service.models import Role
from tests.factories import headers_for
from tests.surveys.forms.factories import create_campaign, create_survey, make_units


@dataclass
class World:
    admin: dict[str, str]
    survey_id: int
    campaign_id: int


@pytest.fixture
def admin(client: TestClient, session: Session) -> dict[str, str]:
    return headers_for(client, session, Role.admin)


@pytest.fixture
def world(client: TestClient, session: Session, admin: dict[str, str]) -> World:
    """Units, the questionnaire and an open campaign."""
    make_units(session)
    survey_id = create_survey(client, admin)
    campaign_id = create_campaign(client, admin, survey_id)
    return World(admin, survey_id, campaign_id)
