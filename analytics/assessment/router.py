"""Routes of the annual assessment (综合考核), for the organisation department and admins only.

- ``POST /api/v1/assessments``, ``GET /api/v1/assessments``, ``GET/PATCH .../{id}``: the
  assessment and its configuration (weights, resident and 民主测评 campaigns); 409 for a
  title taken in the year, or a change after finalisation.
- ``POST .../{id}/finalise``: freeze and hash the configuration and the entered scores and
  store the results (409 while a democratic evaluation it draws on is open).
- ``POST/GET .../{id}/scores``, ``DELETE .../{id}/scores/{score_id}``, ``POST
  .../{id}/scores/import?dry_run=``: the 实绩 and 改革 scores staff enter or import.
- ``GET .../{id}/results`` (all subjects) and ``GET .../{id}/results/{subject_id}``: the
  composite with interval, rank range and sensitivity, a finalised assessment's as stored
  (``snapshot``: true) and a draft's computed now; every read is audited.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from starlette.concurrency import run_in_threadpool

from analytics.assessment import imports, service, snapshot
from analytics.assessment.dependencies import AssessmentById, OrganisationUser
from analytics.assessment.imports import ScoreImportResult
from analytics.assessment.schemas import (
    AssessmentCreate,
    AssessmentPublic,
    AssessmentResult,
    AssessmentUpdate,
    ScoreCreate,
    ScorePublic,
)
from service.auth import SettingsDep
from service.db import SessionDep
from service.errors import Invalid, NotFound
from service.middleware import allow_large_body

router = APIRouter(prefix="/api/v1/assessments", tags=["assessments"])


@router.post("", response_model=AssessmentPublic, status_code=status.HTTP_201_CREATED)
def create_assessment(
    user: OrganisationUser, data: AssessmentCreate, session: SessionDep
) -> AssessmentPublic:
    """Create an annual assessment with its weights and campaigns."""
    row = service.create_assessment(session, data=data, actor=user.username)
    return service.assessment_public(row)


@router.get("", response_model=list[AssessmentPublic])
def read_assessments(user: OrganisationUser, session: SessionDep) -> list[AssessmentPublic]:
    """Every assessment, the newest year first."""
    return service.list_assessments(session)


@router.get("/{assessment_id}", response_model=AssessmentPublic)
def read_assessment(user: OrganisationUser, assessment: AssessmentById) -> AssessmentPublic:
    """One assessment with its configuration and, once finalised, its hash."""
    return service.assessment_public(assessment)


@router.patch("/{assessment_id}", response_model=AssessmentPublic)
def update_assessment(
    user: OrganisationUser,
    assessment: AssessmentById,
    data: AssessmentUpdate,
    session: SessionDep,
) -> AssessmentPublic:
    """Change the title, weights or campaigns of an assessment not yet finalised."""
    service.update_assessment(session, assessment=assessment, data=data, actor=user.username)
    return service.assessment_public(assessment)


@router.post("/{assessment_id}/finalise", response_model=AssessmentPublic)
def finalise_assessment(
    user: OrganisationUser, assessment: AssessmentById, session: SessionDep, settings: SettingsDep
) -> AssessmentPublic:
    """Freeze the configuration and the entered scores, record the configuration's hash, and
    store the results as computed now (409 while a democratic evaluation it uses is open)."""
    snapshot.finalise(
        session,
        assessment=assessment,
        actor=user.username,
        min_group_size=settings.min_group_size,
    )
    return service.assessment_public(assessment)


@router.post(
    "/{assessment_id}/scores", response_model=ScorePublic, status_code=status.HTTP_201_CREATED
)
def create_score(
    user: OrganisationUser, assessment: AssessmentById, data: ScoreCreate, session: SessionDep
) -> ScorePublic:
    """Enter a subject's 实绩 or 改革 score with its source in words."""
    row = service.add_score(session, assessment=assessment, data=data, actor=user.username)
    return next(s for s in service.list_scores(session, assessment=assessment) if s.id == row.id)


@router.get("/{assessment_id}/scores", response_model=list[ScorePublic])
def read_scores(
    user: OrganisationUser, assessment: AssessmentById, session: SessionDep
) -> list[ScorePublic]:
    """The entered scores of the assessment (audited: they are named subjects' scores)."""
    return service.view_scores(session, assessment=assessment, actor=user.username)


@router.delete("/{assessment_id}/scores/{score_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_score(
    user: OrganisationUser, assessment: AssessmentById, score_id: int, session: SessionDep
) -> Response:
    """Remove an entered score (before finalisation)."""
    service.delete_score(session, assessment=assessment, score_id=score_id, actor=user.username)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


UPLOAD_BODY = {
    "requestBody": {
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            }
        }
    }
}


async def _uploaded(request: Request) -> tuple[bytes, str]:
    """The uploaded file (multipart field ``file``) or the raw body, with its name."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        upload = (await request.form()).get("file")
        if upload is None or isinstance(upload, str):
            raise Invalid.field(("body", "file"), "attach the .xlsx or .csv file as 'file'")
        return await upload.read(), upload.filename or ""
    return await request.body(), ""


@router.post(
    "/{assessment_id}/scores/import",
    response_model=ScoreImportResult,
    status_code=status.HTTP_200_OK,
    openapi_extra=UPLOAD_BODY,
)
async def import_scores(
    user: OrganisationUser,
    assessment: AssessmentById,
    request: Request,
    response: Response,
    session: SessionDep,
    dry_run: bool = True,
) -> ScoreImportResult:
    """Check (dry_run=true) or write (all or nothing) entered scores from .xlsx/.csv."""
    allow_large_body(request.scope)
    body, filename = await _uploaded(request)
    rows = await run_in_threadpool(imports.read_scores_file, body)
    if dry_run:
        return await run_in_threadpool(
            imports.preview_import, session, assessment=assessment, rows=rows
        )
    result = await run_in_threadpool(
        imports.commit_import,
        session,
        assessment=assessment,
        rows=rows,
        actor=user.username,
        file=filename,
    )
    response.status_code = status.HTTP_201_CREATED
    return result


@router.get("/{assessment_id}/results", response_model=AssessmentResult)
def read_results(
    user: OrganisationUser, assessment: AssessmentById, session: SessionDep, settings: SettingsDep
) -> AssessmentResult:
    """Every subject's composite, interval, rank range and ranks under other weights (audited)."""
    return snapshot.view_results(
        session,
        assessment=assessment,
        actor=user.username,
        min_group_size=settings.min_group_size,
        time_zone=settings.time_zone,
    )


@router.get("/{assessment_id}/results/{subject_id}", response_model=AssessmentResult)
def read_subject_result(
    user: OrganisationUser,
    assessment: AssessmentById,
    subject_id: int,
    session: SessionDep,
    settings: SettingsDep,
) -> AssessmentResult:
    """One subject's assessment, ranked among the assessment's subjects (audited)."""
    result = snapshot.view_results(
        session,
        assessment=assessment,
        actor=user.username,
        min_group_size=settings.min_group_size,
        time_zone=settings.time_zone,
        subject_id=subject_id,
    )
    if not result.subjects:
        raise NotFound("subject not in this assessment")
    return result
