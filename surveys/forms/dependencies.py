"""Validating dependencies: routes never repeat a 404."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from service.db import SessionDep
from service.errors import NotFound
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


SurveyById = Annotated[Survey, Depends(valid_survey_id)]
CampaignById = Annotated[Campaign, Depends(valid_campaign_id)]
