"""Validating dependencies: routes never repeat a 404."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from service.db import SessionDep, get_or_404
from surveys.forms.models import Campaign, Survey


def valid_survey_id(survey_id: int, session: SessionDep) -> Survey:
    """The questionnaire with this id, or 404."""
    return get_or_404(session, Survey, survey_id, "Questionnaire")


def valid_campaign_id(campaign_id: int, session: SessionDep) -> Campaign:
    """The campaign with this id, or 404."""
    return get_or_404(session, Campaign, campaign_id, "Campaign")


SurveyById = Annotated[Survey, Depends(valid_survey_id)]
CampaignById = Annotated[Campaign, Depends(valid_campaign_id)]
