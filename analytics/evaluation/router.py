"""Results of a democratic evaluation (organisation department and admins; each read audited)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, status
from fastapi.responses import HTMLResponse

from analytics.evaluation import report
from analytics.evaluation.schemas import EvaluationResults
from analytics.evaluation.service import read_evaluation
from service.auth import OrganisationUser, SettingsDep
from service.db import SessionDep
from surveys.evaluation.models import SubjectKind
from surveys.forms.dependencies import CampaignById

router = APIRouter(prefix="/api/v1/campaigns", tags=["analytics"])

LANG = Query(pattern="^(zh-CN|en)$")


@router.get(
    "/{campaign_id}/evaluation",
    response_model=EvaluationResults,
    status_code=status.HTTP_200_OK,
    responses={409: {"description": "Not a democratic evaluation, or not closed yet"}},
)
def read_campaign_evaluation(
    user: OrganisationUser,
    campaign: CampaignById,
    session: SessionDep,
    settings: SettingsDep,
    subject_id: Annotated[int | None, Query(ge=1)] = None,
    kind: SubjectKind | None = None,
    unit_code: Annotated[str | None, Query(max_length=64)] = None,
) -> EvaluationResults:
    """Results per subject of a closed democratic evaluation: counts and shares per grade,
    item and rater group (groups under k pooled), the weighted score with its 95% interval and
    the rules flagged; one subject, a kind or a unit's subjects on request."""
    return read_evaluation(
        session,
        campaign=campaign,
        k=settings.min_group_size,
        actor=user.username,
        subject_id=subject_id,
        kind=kind.value if kind else None,
        unit_code=unit_code,
    )


@router.get(
    "/{campaign_id}/evaluation/subjects/{subject_id}/report",
    response_class=HTMLResponse,
    status_code=status.HTTP_200_OK,
    responses={200: {"content": {"text/html": {}}, "description": "One A4 page, offline"}},
)
def read_subject_report(
    user: OrganisationUser,
    campaign: CampaignById,
    subject_id: int,
    session: SessionDep,
    settings: SettingsDep,
    lang: Annotated[str, LANG] = "zh-CN",
) -> HTMLResponse:
    """A subject's one-page A4 report for the file (档案): self-contained, no script."""
    results = read_evaluation(
        session,
        campaign=campaign,
        k=settings.min_group_size,
        actor=user.username,
        action="evaluation.report",
        subject_id=subject_id,
    )
    html = report.build(
        results,
        lang=lang,
        generated_at=datetime.now(UTC),
        time_zone=settings.time_zone,
        printed_by=user.username,
    )
    name = f"evaluation-{campaign.id}-{subject_id}.html"
    return HTMLResponse(html, headers={"Content-Disposition": f'inline; filename="{name}"'})
