"""Routes that set numbers of a campaign beside others: the response rate of its invitation
codes, and its comparability and comparison with another campaign (evaluators and admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from analytics.indicators import comparability
from analytics.indicators.schemas import ComparabilityOut, ComparisonOut, ResponseRateOut
from service.auth import EvaluatorUser, SettingsDep
from service.db import AnalyticsSessionDep, stored_id
from surveys.forms.dependencies import CampaignById
from surveys.forms.response_rate import response_rate

router = APIRouter(prefix="/api/v1/campaigns", tags=["analytics"])

Other = Annotated[int, Query(alias="with", ge=1, description="the other campaign's id")]


@router.get(
    "/{campaign_id}/response-rate",
    response_model=ResponseRateOut,
    status_code=status.HTTP_200_OK,
    responses={409: {"description": "Not an invitation campaign: it has no codes"}},
)
def read_response_rate(
    user: EvaluatorUser, campaign: CampaignById, session: AnalyticsSessionDep
) -> ResponseRateOut:
    """Invitation codes used / issued, overall and per batch (a census of the codes)."""
    return ResponseRateOut.model_validate(response_rate(session, campaign=campaign).as_dict())


@router.get(
    "/{campaign_id}/comparability",
    response_model=ComparabilityOut,
    status_code=status.HTTP_200_OK,
)
def read_comparability(
    user: EvaluatorUser, campaign: CampaignById, session: AnalyticsSessionDep, other: Other
) -> ComparabilityOut:
    """Whether the two campaigns' rated questions agree, and every difference if not."""
    return ComparabilityOut.model_validate(
        comparability.comparability(session, campaign_id=stored_id(campaign), other_id=other)
    )


@router.get(
    "/{campaign_id}/comparison", response_model=ComparisonOut, status_code=status.HTTP_200_OK
)
def read_comparison(
    user: EvaluatorUser,
    campaign: CampaignById,
    session: AnalyticsSessionDep,
    settings: SettingsDep,
    other: Other,
) -> ComparisonOut:
    """Scores per unit and dimension of both campaigns, with their comparability block."""
    return ComparisonOut.model_validate(
        comparability.comparison(
            session,
            campaign_id=stored_id(campaign),
            other_id=other,
            min_group_size=settings.min_group_size,
        )
    )
