"""Routes for questionnaires, campaigns, invitations and responses."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from service import audit
from service.auth import AdminUser, EvaluatorUser, SettingsDep
from service.db import SessionDep
from service.middleware import allow_large_body
from service.ratelimit import RateLimit, RateLimiter, client_key
from surveys.evaluation import campaigns as evaluation_campaigns
from surveys.forms import authoring, exports, imports, isolated, receiving, service, xlsform
from surveys.forms.compiled import FormCache
from surveys.forms.dependencies import (
    CampaignById,
    EngineDep,
    FormCacheDep,
    SurveyById,
    WriterDep,
)
from surveys.forms.schemas import (
    CampaignCreate,
    CampaignCreated,
    CampaignPublic,
    CampaignUpdate,
    FormPublic,
    ImportResult,
    InvitationsCreate,
    InvitationsCreated,
    ResponseCreated,
    ResponseIn,
    SurveyCreate,
    SurveyCreated,
    SurveyPublic,
    SurveySummary,
)
from surveys.forms.writer import ResponseWriter

router = APIRouter(prefix="/api/v1", tags=["surveys"])
# The upload routes read their body themselves, after the admin check; this documents it.
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
# The public routes: mounted first, the response post first of all, because route matching
# walks the routes in order and this is the one path that has to be fast.
public = APIRouter(prefix="/api/v1/campaigns", tags=["surveys"])


@router.post("/surveys", response_model=SurveyCreated, status_code=status.HTTP_201_CREATED)
def create_survey(admin: AdminUser, data: SurveyCreate, session: SessionDep) -> SurveyCreated:
    """Create a questionnaire (admin)."""
    survey = authoring.create_survey_as(session, actor=admin.username, data=data)
    return SurveyCreated(id=survey.id or 0)


@router.get("/surveys", response_model=list[SurveySummary])
def read_surveys(user: EvaluatorUser, session: SessionDep) -> list[SurveySummary]:
    """Every questionnaire version (admin, evaluator)."""
    return service.list_surveys(session)


@router.get("/surveys/{survey_id}", response_model=SurveyPublic)
def read_survey(user: EvaluatorUser, survey: SurveyById, session: SessionDep) -> SurveyPublic:
    """One questionnaire with its questions (admin, evaluator)."""
    return service.survey_public(session, survey=survey)


@router.put("/surveys/{survey_id}", response_model=SurveyCreated)
def update_survey(
    admin: AdminUser,
    survey: SurveyById,
    data: SurveyCreate,
    session: SessionDep,
    cache: FormCacheDep,
    response: Response,
) -> SurveyCreated:
    """Edit a questionnaire; once it has responses the edit becomes a new version (201)."""
    edited, new_version = authoring.update_survey_as(
        session, actor=admin.username, survey=survey, data=data
    )
    if new_version:
        response.status_code = status.HTTP_201_CREATED
    cache.invalidate()
    return SurveyCreated(id=edited.id or 0, version=edited.version, previous_id=edited.previous_id)


@router.post("/campaigns", response_model=CampaignCreated, status_code=status.HTTP_201_CREATED)
def create_campaign(admin: AdminUser, data: CampaignCreate, session: SessionDep) -> CampaignCreated:
    """Create a campaign: a questionnaire about some units for a time window, or a democratic
    evaluation (``"kind": "democratic_evaluation"``) of subjects by rater groups (admin)."""
    if data.kind == evaluation_campaigns.KIND:
        campaign = evaluation_campaigns.create_campaign(session, data=data)
    else:
        campaign = service.create_campaign(session, data=data)
    audit.record(
        session,
        actor=admin.username,
        action="campaign.create",
        target=str(campaign.id),
        access=campaign.access,
        kind=campaign.kind,
        units=len(data.unit_codes),
        subjects=len(data.subject_ids),
    )
    return CampaignCreated(id=campaign.id or 0)


@router.get("/campaigns", response_model=list[CampaignPublic])
def read_campaigns(user: EvaluatorUser, session: SessionDep) -> list[CampaignPublic]:
    """Every campaign with its response counts (admin, evaluator)."""
    return service.list_campaigns(session)


@router.get("/campaigns/{campaign_id}", response_model=CampaignPublic)
def read_campaign(
    user: EvaluatorUser, campaign: CampaignById, session: SessionDep
) -> CampaignPublic:
    """One campaign with its response counts (admin, evaluator)."""
    return service.campaign_public(session, campaign=campaign)


@router.patch("/campaigns/{campaign_id}", response_model=CampaignPublic)
def update_campaign(
    admin: AdminUser,
    campaign: CampaignById,
    data: CampaignUpdate,
    session: SessionDep,
    cache: FormCacheDep,
) -> CampaignPublic:
    """Change a campaign's titles, window, profile questions or weights (admin)."""
    service.update_campaign(session, campaign=campaign, data=data)
    audit.record(
        session,
        actor=admin.username,
        action="campaign.update",
        target=str(campaign.id),
        fields=sorted(data.model_dump(exclude_unset=True)),
    )
    cache.invalidate(campaign.id)
    return service.campaign_public(session, campaign=campaign)


@router.post(
    "/campaigns/{campaign_id}/invitations",
    response_model=InvitationsCreated,
    status_code=status.HTTP_201_CREATED,
)
def create_invitations(
    admin: AdminUser,
    campaign: CampaignById,
    data: InvitationsCreate,
    session: SessionDep,
    settings: SettingsDep,
) -> InvitationsCreated:
    """Create one-time invitation codes; they are shown once and stored only as keyed hashes."""
    codes = service.create_invitations(
        session,
        campaign=campaign,
        count=data.count,
        secret=settings.secret_key or "",
        batch=data.batch,
        time_zone=settings.time_zone,
        rater_group=data.rater_group,
    )
    audit.record(
        session,
        actor=admin.username,
        action="invitation.create",
        target=str(campaign.id),
        count=len(codes),
        rater_group=data.rater_group,
    )
    return InvitationsCreated(codes=codes)


@router.post(
    "/surveys/import",
    response_model=SurveyCreated,
    status_code=status.HTTP_201_CREATED,
    openapi_extra=UPLOAD_BODY,
)
async def import_survey(admin: AdminUser, request: Request, session: SessionDep) -> SurveyCreated:
    """Create a questionnaire from an XLSForm workbook; 422 lists every bad row (admin).

    The body is read only after the admin check (a declared ``File()`` parameter would be read
    before it), and parsed in a child process so the server keeps serving meanwhile.
    """
    allow_large_body(request.scope)
    body, filename, _type = await imports.read_request(request, "the .xlsx workbook")
    data = await run_in_threadpool(isolated.import_xlsform, body)
    survey = await run_in_threadpool(
        lambda: authoring.import_survey_as(
            session, actor=admin.username, data=data, filename=filename
        )
    )
    return SurveyCreated(id=survey.id or 0)


@router.get("/surveys/{survey_id}/xlsform", response_class=Response)
def export_survey(user: EvaluatorUser, survey: SurveyById, session: SessionDep) -> Response:
    """The questionnaire as an XLSForm workbook (admin, evaluator)."""
    body = xlsform.export_xlsform(survey, service.questions_of(session, survey_id=survey.id or 0))
    return Response(
        body,
        media_type=exports.MEDIA["xlsx"],
        headers={"Content-Disposition": f'attachment; filename="survey-{survey.id}.xlsx"'},
    )


@router.post(
    "/campaigns/{campaign_id}/responses/import",
    response_model=ImportResult,
    status_code=status.HTTP_201_CREATED,
)
async def import_responses(
    admin: AdminUser,
    campaign: CampaignById,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
    dry_run: bool = False,
) -> ImportResult:
    """Import responses from a JSON array or a CSV upload, all or nothing (admin).

    One bad row rejects the batch: 422 lists every bad row (row number, field, reason).
    ``dry_run=true`` checks the same way and stores nothing: 200 with the count it would import.
    """
    allow_large_body(request.scope)
    data, filename, content_type = await imports.read_request(request)

    def run() -> int:
        rows, first = imports.rows_from_upload(
            session, campaign, data, filename=filename, content_type=content_type
        )
        return imports.import_responses(
            session,
            campaign=campaign,
            rows=rows,
            secret=settings.secret_key or "",
            first_row=first,
            dry_run=dry_run,
        )

    n = await run_in_threadpool(run)
    if dry_run:
        response.status_code = status.HTTP_200_OK
        return ImportResult(imported=n)
    audit.record(
        session, actor=admin.username, action="responses.import", target=str(campaign.id), rows=n
    )
    return ImportResult(imported=n)


@router.get(
    "/campaigns/{campaign_id}/responses",
    response_class=StreamingResponse,
    responses={200: {"content": {m: {} for m in exports.MEDIA.values()}}},
)
def export_responses(
    user: AdminUser,
    campaign: CampaignById,
    session: SessionDep,
    engine: EngineDep,
    settings: SettingsDep,
    format: Literal["csv", "xlsx", "json", "sav", "dta"] = "json",
    flagged: Literal["include", "exclude", "only"] = "include",
) -> Response:
    """All responses of a campaign as CSV (UTF-8 with BOM), XLSX or JSON, with a codebook.

    ``sav`` (SPSS) and ``dta`` (Stata 14+) carry variable and value labels; they are refused
    (422) above ``statfiles.MAX_ROWS`` (100,000) responses, as they are built in memory.

    Raw data is the admin's alone (evaluators see protected aggregates). Every export is
    written to the audit log. Responses are named by a random-looking public id, never the
    internal one. ``flagged`` keeps, drops or selects the responses flagged as likely stuffing.
    """
    questions = service.questions_of(session, survey_id=campaign.survey_id)
    secret = settings.secret_key or ""
    body, media, name = exports.build(
        engine, campaign, questions, fmt=format, flagged=flagged, secret=secret
    )
    audit.record(
        session,
        actor=user.username,
        action="responses.export",
        target=str(campaign.id),
        format=format,
        flagged=flagged,
        rows=exports.count_rows(engine, campaign.id or 0, flagged),
    )
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if isinstance(body, bytes):
        return Response(body, media_type=media, headers=headers)
    return StreamingResponse(body, media_type=media, headers=headers)


@router.get("/campaigns/{campaign_id}/codebook", response_class=Response)
def read_codebook(
    user: EvaluatorUser,
    campaign: CampaignById,
    session: SessionDep,
    format: Literal["csv", "json"] = "json",
) -> Response:
    """What each column of the response export means (admin, evaluator)."""
    book = exports.codebook(service.questions_of(session, survey_id=campaign.survey_id))
    if format == "csv":
        return Response(
            exports.codebook_csv(book),
            media_type=exports.MEDIA["csv"],
            headers={
                "Content-Disposition": f'attachment; filename="campaign-{campaign.id}-codebook.csv"'
            },
        )
    return Response(exports.json_dumps(book), media_type="application/json")


@public.post(
    "/{campaign_id}/responses",
    response_model=ResponseCreated,
    status_code=status.HTTP_201_CREATED,
    responses={
        409: {"description": "Invitation code already used, or the survey is not open yet"},
        410: {"description": "The survey has closed"},
        429: {"description": "Too many posts from this client"},
    },
)
async def create_response(
    campaign_id: int,
    data: ResponseIn,
    request: Request,
    limiter: RateLimit,
    cache: FormCacheDep,
    writer: WriterDep,
    engine: EngineDep,
    settings: SettingsDep,
) -> JSONResponse:
    """Submit one resident's answers about one unit (public).

    Acknowledged only once committed. A retry with the same ``submission_id`` stores nothing
    new and answers like the first post (201, the same id, header ``Idempotent-Replayed: true``).
    """
    return await accept_response(
        request,
        campaign_id=campaign_id,
        data=data,
        limiter=limiter,
        cache=cache,
        writer=writer,
        engine=engine,
        secret=settings.secret_key or "",
    )


async def accept_response(
    request: Request,
    *,
    campaign_id: int,
    data: ResponseIn,
    limiter: RateLimiter,
    cache: FormCache,
    writer: ResponseWriter,
    engine: Engine,
    secret: str,
) -> JSONResponse:
    """The public post's answer once its body is valid, for the route and for the fast path
    (``fastpath.py``) that reaches it without the framework's stack."""
    network = client_key(request)
    limiter.enforce(f"public:{network}")
    stored = await receiving.receive_response(
        engine=engine,
        secret=secret,
        cache=cache,
        writer=writer,
        campaign_id=campaign_id,
        data=data,
        network=network,
        device=request.headers.get("user-agent", ""),
    )
    headers = None if stored.created else {"Idempotent-Replayed": "true"}
    response_id = exports.public_id(secret, stored.id)
    return JSONResponse({"id": response_id}, status_code=status.HTTP_201_CREATED, headers=headers)


@public.get("/{campaign_id}/form", response_model=FormPublic)
def read_form(campaign: CampaignById, session: SessionDep, settings: SettingsDep) -> FormPublic:
    """The survey as a client renders it (public; 409 before it opens, 410 after it closes)."""
    receiving.ensure_open(campaign)
    return receiving.form_public(session, campaign=campaign, secret=settings.secret_key or "")
