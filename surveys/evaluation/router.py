"""Routes of subjects and democratic evaluations.

- ``POST/GET /api/v1/subjects``, ``GET/PATCH /api/v1/subjects/{id}`` (admin, organisation):
  leadership teams and leaders; 409 for a duplicate, 422 naming the field.
- ``POST /api/v1/subjects/import?dry_run=true|false`` (admin, organisation): .xlsx or .csv with
  columns kind, name, post, unit_code, term_start, term_end; problems per row and column.
  ``GET /api/v1/subjects/template.xlsx``: the file to fill in.
- ``PUT /api/v1/campaigns/{id}/evaluation`` (admin): change the configuration or subjects until
  the campaign opens (409 after: it is fixed, and ``evaluation_hash`` names it).
- ``GET /api/v1/evaluations/{id}/sheet`` (public): the subjects and what to grade.
- ``POST /api/v1/evaluations/{id}/sheet`` (public, with an invitation code of a rater group):
  one rater's grades of every subject; the code is redeemed once (409 on reuse).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from starlette.concurrency import run_in_threadpool

from service.auth import AdminUser, OrganisationUser, SettingsDep
from service.db import SessionDep
from service.errors import Invalid
from service.middleware import allow_large_body
from service.ratelimit import RateLimit, client_key
from surveys.evaluation import campaigns, imports, receiving, service
from surveys.evaluation.dependencies import SubjectById
from surveys.evaluation.imports import SubjectImportResult
from surveys.evaluation.models import SubjectKind
from surveys.evaluation.schemas import (
    ConfigurationUpdate,
    SheetIn,
    SheetPublic,
    SheetStored,
    SubjectCreate,
    SubjectPublic,
    SubjectUpdate,
)
from surveys.forms.dependencies import CampaignById
from surveys.forms.schemas import CampaignPublic
from surveys.forms.service import campaign_public

router = APIRouter(prefix="/api/v1", tags=["evaluation"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.post("/subjects", response_model=SubjectPublic, status_code=status.HTTP_201_CREATED)
def create_subject(
    user: OrganisationUser, data: SubjectCreate, session: SessionDep
) -> SubjectPublic:
    """Add a leadership team or leader (admin, organisation)."""
    subject = service.create_subject(session, data=data, actor=user.username)
    return service.subject_public(session, subject)


@router.get("/subjects", response_model=list[SubjectPublic])
def read_subjects(
    user: OrganisationUser,
    session: SessionDep,
    kind: SubjectKind | None = None,
    active: bool | None = None,
) -> list[SubjectPublic]:
    """Subjects, teams first (admin, organisation)."""
    return service.subjects_public(session, service.subjects(session, kind=kind, active=active))


@router.get("/subjects/template.xlsx", response_class=Response)
def read_subject_template(user: OrganisationUser) -> Response:
    """The spreadsheet to fill in for an import (admin, organisation)."""
    return Response(
        imports.template_workbook(),
        media_type=XLSX,
        headers={"Content-Disposition": 'attachment; filename="subjects.xlsx"'},
    )


@router.get("/subjects/{subject_id}", response_model=SubjectPublic)
def read_subject(
    user: OrganisationUser, subject: SubjectById, session: SessionDep
) -> SubjectPublic:
    """One subject (admin, organisation)."""
    return service.subject_public(session, subject)


@router.patch("/subjects/{subject_id}", response_model=SubjectPublic)
def update_subject(
    user: OrganisationUser, subject: SubjectById, data: SubjectUpdate, session: SessionDep
) -> SubjectPublic:
    """Change a subject, or deactivate it with ``is_active: false`` (admin, organisation)."""
    service.update_subject(session, subject=subject, data=data, actor=user.username)
    return service.subject_public(session, subject)


@router.post("/subjects/import", response_model=SubjectImportResult)
async def import_subjects(
    user: OrganisationUser,
    request: Request,
    response: Response,
    session: SessionDep,
    dry_run: bool = True,
) -> SubjectImportResult:
    """Check (dry_run=true) or write (all or nothing) subjects from .xlsx/.csv (admin, organisation)."""
    allow_large_body(request.scope)
    filename = ""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        upload = (await request.form()).get("file")
        if upload is None or isinstance(upload, str):
            raise Invalid.field(("body", "file"), "attach the .xlsx or .csv file as 'file'")
        body, filename = await upload.read(), upload.filename or ""
    else:
        body = await request.body()
    rows = await run_in_threadpool(imports.read_subjects_file, body)
    result = await run_in_threadpool(
        imports.import_subjects,
        session,
        rows=rows,
        dry_run=dry_run,
        actor=user.username,
        file=filename,
    )
    if not dry_run:
        response.status_code = status.HTTP_201_CREATED
    return result


@router.put("/campaigns/{campaign_id}/evaluation", response_model=CampaignPublic)
def update_configuration(
    admin: AdminUser, campaign: CampaignById, data: ConfigurationUpdate, session: SessionDep
) -> CampaignPublic:
    """Change a democratic evaluation's configuration or subjects before it opens (admin)."""
    campaigns.update_configuration(
        session,
        campaign=campaign,
        evaluation=data.evaluation,
        subject_ids=data.subject_ids,
        actor=admin.username,
    )
    return campaign_public(session, campaign=campaign)


@router.get("/evaluations/{campaign_id}/sheet", response_model=SheetPublic)
def read_sheet(campaign: CampaignById, session: SessionDep) -> SheetPublic:
    """What a rater grades: the subjects and, for each, the items and the grades (public)."""
    return service.sheet_public(session, campaign=campaign)


@router.post(
    "/evaluations/{campaign_id}/sheet",
    response_model=SheetStored,
    status_code=status.HTTP_201_CREATED,
)
def create_sheet(
    request: Request,
    campaign: CampaignById,
    data: SheetIn,
    session: SessionDep,
    settings: SettingsDep,
    limiter: RateLimit,
) -> SheetStored:
    """One rater's grades of every subject, with an unused code of a rater group (public)."""
    # Counted like every public post, so codes cannot be guessed at speed.
    limiter.enforce(f"public:{client_key(request)}")
    receiving.submit_sheet(
        session,
        campaign=campaign,
        code=data.invitation_code,
        grades=data.grades,
        secret=settings.secret_key or "",
    )
    return SheetStored()
