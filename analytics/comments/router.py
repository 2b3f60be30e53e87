"""Comment routes: sentiment, searchable comment lists and themes (evaluators and admins).

The GET routes only read: comments are scored by the app's background job (``job.py``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, status

from analytics.comments import search, sentiment, themes
from analytics.comments.schemas import CommentsOut, SentimentIn, SentimentOut, ThemesOut
from service.auth import EvaluatorUser, SettingsDep
from service.db import SessionDep, stored_id
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
    session: SessionDep,
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
    session: SessionDep,
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
