"""Comment routes: sentiment, searchable comment lists, themes and complaints per dimension
(evaluators and admins).

``GET /api/v1/campaigns/{id}/comments/aspects?unit_code=&area_code=&include_flagged=&by=&top=``:
per dimension (and unit with ``by=unit``) the comments speaking of it, the negative ones and
the negative share with its 95% Wilson interval (``rows``), the same per month (``months``),
each month-to-month change tested with the trends' alert rule (``changes``), the top complaint
themes per dimension (``themes``); 422 naming the field for an unknown unit or area code.

The GET routes only read: comments are scored by the app's background job (``job.py``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, status

from analytics.comments import aspect_shares, search, sentiment, themes
from analytics.comments.schemas import (
    AspectsOut,
    CommentsOut,
    SentimentIn,
    SentimentOut,
    ThemesOut,
)
from service.auth import EvaluatorUser, SettingsDep
from service.db import AnalyticsSessionDep, stored_id
from surveys.forms.dependencies import CampaignById

router = APIRouter(tags=["analytics"])


@router.post(
    "/api/v1/analytics/sentiment", response_model=SentimentOut, status_code=status.HTTP_200_OK
)
def create_sentiment(user: EvaluatorUser, data: SentimentIn) -> SentimentOut:
    """Sentiment of each text with the offline model the comment views use."""
    return SentimentOut.model_validate(
        {"results": sentiment.classify(data.texts), "model": sentiment.MODEL_NAME}
    )


@router.get(
    "/api/v1/campaigns/{campaign_id}/comments",
    response_model=CommentsOut,
    status_code=status.HTTP_200_OK,
)
def read_comments(
    user: EvaluatorUser,
    campaign: CampaignById,
    session: AnalyticsSessionDep,
    settings: SettingsDep,
    unit_code: str | None = None,
    area_code: str | None = None,
    sentiment: Literal["positive", "negative", "neutral"] | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    include_flagged: bool = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> CommentsOut:
    """Comments of groups with enough respondents, filtered by unit, area, sentiment, text."""
    page = search.list_comments(
        session,
        campaign_id=stored_id(campaign),
        unit_code=unit_code,
        area_code=area_code,
        sentiment=sentiment,
        q=q,
        include_flagged=include_flagged,
        min_group_size=settings.min_group_size,
        limit=limit,
        offset=offset,
    )
    return CommentsOut.model_validate(page.__dict__)


@router.get(
    "/api/v1/campaigns/{campaign_id}/comments/themes",
    response_model=ThemesOut,
    status_code=status.HTTP_200_OK,
)
def read_comment_themes(
    user: EvaluatorUser,
    campaign: CampaignById,
    session: AnalyticsSessionDep,
    settings: SettingsDep,
    by: Literal["unit", "area"] = "unit",
    unit_code: str | None = None,
    area_code: str | None = None,
    include_flagged: bool = False,
    top: Annotated[int, Query(ge=1, le=50)] = 10,
) -> ThemesOut:
    """Sentiment shares and keyword themes per unit or area, the most negative first."""
    return ThemesOut.model_validate(
        themes.themes(
            session,
            campaign_id=stored_id(campaign),
            by=by,
            unit_code=unit_code,
            area_code=area_code,
            include_flagged=include_flagged,
            min_group_size=settings.min_group_size,
            top=top,
        )
    )


@router.get(
    "/api/v1/campaigns/{campaign_id}/comments/aspects",
    response_model=AspectsOut,
    status_code=status.HTTP_200_OK,
)
def read_comment_aspects(
    user: EvaluatorUser,
    campaign: CampaignById,
    session: AnalyticsSessionDep,
    settings: SettingsDep,
    by: Literal["dimension", "unit"] = "dimension",
    unit_code: str | None = None,
    area_code: str | None = None,
    include_flagged: bool = False,
    top: Annotated[int, Query(ge=1, le=50)] = 5,
) -> AspectsOut:
    """Negative share per dimension (and unit), by month with alerts, and complaint themes."""
    return AspectsOut.model_validate(
        aspect_shares.aspect_shares(
            session,
            campaign_id=stored_id(campaign),
            unit_code=unit_code,
            area_code=area_code,
            include_flagged=include_flagged,
            min_group_size=settings.min_group_size,
            by_unit=by == "unit",
            top=top,
        )
    )
