"""Validating dependencies: routes never repeat a 404 or a rate-limit check."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service.db import SessionDep
from service.errors import NotFound
from service.ratelimit import enforce_rate_limit
from surveys.forms.models import Campaign, Survey


def valid_survey_id(survey_id: int, session: SessionDep) -> Survey:
    """The questionnaire with this id, or 404."""
    survey = session.get(Survey, survey_id)
    if survey is None:
        raise NotFound("Questionnaire not found")
    return survey


def valid_campaign_id(campaign_id: int, session: SessionDep) -> Campaign:
    """The campaign with this id, or 404."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound("Campaign not found")
    return campaign


async def public_rate_limit(request: Request) -> None:
    """Count a public post against its client's limit (async: no thread-pool hop)."""
    enforce_rate_limit(request)


SurveyById = Annotated[Survey, Depends(valid_survey_id)]
CampaignById = Annotated[Campaign, Depends(valid_campaign_id)]
RateLimited = Depends(public_rate_limit)
