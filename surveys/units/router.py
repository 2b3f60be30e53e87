"""Routes for units.

- ``POST /api/v1/units`` (admin): create a unit under its parent (``parent_code``); 409 for a
  code that exists, 422 naming the field otherwise.
- ``GET /api/v1/units`` (public): every unit with its parent's code and state; ``kind`` and
  ``active`` filter (``active=true``: the units a new campaign may use).
- ``PATCH /api/v1/units/{unit_id}`` (admin): change ``name``, ``name_en``, ``kind``,
  ``parent_code`` (``""`` for none) or ``is_active``. A parent that is the unit itself or below it
  is a cycle: 422 on ``parent_code``. A deactivated unit is refused for new campaigns and stays
  in every past result.
- ``POST /api/v1/units/import?dry_run=true|false`` (admin): an .xlsx or .csv file (multipart
  field ``file``, or the raw body) with columns code, name, name_en, kind, parent_code. With
  ``dry_run=true`` (the default) the answer (200) lists every row with its problems by column
  and nothing is written; with ``dry_run=false`` all rows are written (201) or, when any row is
  bad, none, with a 422 whose ``loc`` is ``["row", n, column]`` for each problem.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from starlette.concurrency import run_in_threadpool

from service.auth import AdminUser
from service.db import SessionDep
from service.errors import Invalid
from service.middleware import allow_large_body
from surveys.units import imports, service
from surveys.units.dependencies import UnitById
from surveys.units.imports import UnitImportResult
from surveys.units.models import UnitCreate, UnitKind, UnitPublic, UnitUpdate

router = APIRouter(prefix="/api/v1/units", tags=["units"])

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


@router.post("", response_model=UnitPublic, status_code=status.HTTP_201_CREATED)
def create_unit(data: UnitCreate, admin: AdminUser, session: SessionDep) -> UnitPublic:
    """Create a unit (admin)."""
    unit = service.add_unit(session, data=data, actor=admin.username)
    return service.unit_public(session, unit=unit)


@router.get("", response_model=list[UnitPublic])
def read_units(
    session: SessionDep, kind: UnitKind | None = None, active: bool | None = None
) -> list[UnitPublic]:
    """All units, public (names of public bodies are not secret)."""
    return service.list_units(session, kind=kind, active=active)


@router.patch("/{unit_id}", response_model=UnitPublic)
def update_unit(
    admin: AdminUser, unit: UnitById, data: UnitUpdate, session: SessionDep
) -> UnitPublic:
    """Change a unit's names, kind, parent or state; 422 for a parent that makes a cycle (admin)."""
    service.update_unit(session, unit=unit, data=data, actor=admin.username)
    return service.unit_public(session, unit=unit)


@router.post(
    "/import",
    response_model=UnitImportResult,
    status_code=status.HTTP_200_OK,
    openapi_extra=UPLOAD_BODY,
)
async def import_units(
    admin: AdminUser,
    request: Request,
    response: Response,
    session: SessionDep,
    dry_run: bool = True,
) -> UnitImportResult:
    """Check (dry_run=true) or write (dry_run=false, all or nothing) units from .xlsx/.csv (admin).

    The body is read only after the admin check (a declared ``File()`` would be read before it).
    """
    allow_large_body(request.scope)
    body, filename = await _uploaded(request)
    rows = await run_in_threadpool(imports.read_units_file, body)
    if dry_run:
        return await run_in_threadpool(imports.preview_import, session, rows=rows)
    count = await run_in_threadpool(
        imports.commit_import, session, rows=rows, actor=admin.username, file=filename
    )
    response.status_code = status.HTTP_201_CREATED
    return imports.import_result(count)
