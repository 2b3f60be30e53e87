"""The campaign page's uploads: population margins for weighting, and paper responses.

Margins are a table of ``variable, category, share`` rows (CSV or XLSX): ``variable`` is
``area`` (category: a unit code), ``age_band`` or ``sex`` (categories as the survey asks
them). Every row is checked before anything is saved (known variable and category, a share
that is a number of zero or more, no category twice, shares summing to 1 per variable within
``TOLERANCE``), and every fault is named by its row. They are stored as the campaign's
``margins`` through the API's update route, in the shape ``analytics.indicators.weighting``
reads: ``{"area": {"code": share}, "age_band": {...}, "sex": {...}}``.

Paper responses go through the API's import service in two steps: the upload is checked with
``dry_run`` (nothing stored) and shown as a preview with every error by row and column; the
confirm step posts the same file back (carried in the page, so nothing is kept on the server)
and imports it all or nothing. Files are bounded by the ordinary request size; a larger
import goes through the API.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
from typing import Annotated, Any, get_args

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, col, select

from frontend.pages.admin.access import ConsoleAdmin, ConsoleRoute
from frontend.pages.admin.campaign_detail import detail_page, t
from frontend.pages.admin.common import console_render
from service import audit
from service.auth import SettingsDep
from service.db import SessionDep
from service.errors import Invalid
from surveys.forms import imports
from surveys.forms import router as api
from surveys.forms.dependencies import CampaignById, FormCacheDep
from surveys.forms.models import Campaign
from surveys.forms.schemas import AgeBand, CampaignUpdate, Sex
from surveys.units.models import AREA_KINDS, Unit

router = APIRouter(route_class=ConsoleRoute)

VARIABLES = ("area", "age_band", "sex")
CATEGORIES = {"age_band": set(get_args(AgeBand)), "sex": set(get_args(Sex))}
COLUMNS = ("variable", "category", "share")
# Published shares are rounded (often to 0.1%); a sum off by more than this is a typing error.
TOLERANCE = 0.01
PREVIEW_ROWS = 20
MAX_ERRORS = 200


class Upload:
    """The posted form's file (field ``file``) and text fields."""

    def __init__(self, data: bytes, filename: str, content_type: str, fields: dict[str, str]):
        self.data = data
        self.filename = filename
        self.content_type = content_type
        self.fields = fields


async def _upload(request: Request) -> Upload:
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    file = form.get("file")
    if file is None or isinstance(file, str):
        return Upload(b"", "", "", fields)
    return Upload(await file.read(), file.filename or "", file.content_type or "", fields)


UploadDep = Annotated[Upload, Depends(_upload)]


def _error(request: Request, row: int | str, column: str, key: str, **kw: Any) -> dict[str, Any]:
    return {"row": row, "column": column, "message": t(request, key, **kw)}


def read_table(data: bytes, filename: str) -> list[list[str]]:
    """The rows of a CSV (UTF-8) or XLSX file's first sheet as text; Invalid if unreadable."""
    if filename.lower().endswith(".xlsx"):
        from openpyxl import load_workbook

        try:
            book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception:  # openpyxl raises many kinds for a file that is not a workbook
            raise Invalid.field(("file",), "not an XLSX workbook") from None
        sheet = book.worksheets[0]
        return [
            ["" if v is None else str(v).strip() for v in row]
            for row in sheet.iter_rows(values_only=True)
        ]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid.field(("file",), "the CSV must be UTF-8") from None
    return [[v.strip() for v in row] for row in csv.reader(io.StringIO(text))]


def check_margins(
    request: Request, session: Session, rows: list[list[str]]
) -> tuple[dict[str, dict[str, float]], list[dict[str, Any]]]:
    """The margins of a table, and every fault by row (an empty list when it is sound)."""
    if not rows or [h.lower() for h in rows[0][:3]] != list(COLUMNS):
        return {}, [_error(request, 1, "", "admin.campaigns.margins.err.header")]
    body = [(n, r) for n, r in enumerate(rows[1:], start=2) if any(r)]
    if not body:
        return {}, [_error(request, 2, "", "admin.campaigns.margins.err.empty")]
    wanted = [r[1] for _, r in body if r[:1] == ["area"] and len(r) > 1]
    # An area is a place residents live in (as on the survey's area question), not any unit.
    places = (
        select(Unit.code).where(col(Unit.code).in_(wanted)).where(col(Unit.kind).in_(AREA_KINDS))
    )
    codes = set(session.exec(places)) if wanted else set()
    margins: dict[str, dict[str, float]] = {}
    last_row: dict[str, int] = {}
    errors: list[dict[str, Any]] = []
    for n, r in body:
        variable, category, raw = (r + ["", "", ""])[:3]
        if variable not in VARIABLES:
            errors.append(_error(request, n, "variable", "admin.campaigns.margins.err.variable"))
            continue
        known = codes if variable == "area" else CATEGORIES[variable]
        if category not in known:
            errors.append(_error(request, n, "category", "admin.campaigns.margins.err.category"))
        elif category in margins.get(variable, {}):
            errors.append(_error(request, n, "category", "admin.campaigns.margins.err.twice"))
        try:
            share = float(raw)
        except ValueError:
            errors.append(_error(request, n, "share", "admin.campaigns.margins.err.number"))
            continue
        if not 0 <= share <= 1:
            errors.append(_error(request, n, "share", "admin.campaigns.margins.err.range"))
            continue
        margins.setdefault(variable, {}).setdefault(category, share)
        last_row[variable] = n
    if not errors:
        for variable, shares in margins.items():
            total = sum(shares.values())
            if abs(total - 1) > TOLERANCE:
                errors.append(
                    _error(
                        request,
                        last_row[variable],
                        "share",
                        "admin.campaigns.margins.err.sum",
                        variable=variable,
                        total=f"{total:.4f}",
                    )
                )
    return margins, errors


@router.post("/admin/campaigns/{campaign_id}/margins", response_class=HTMLResponse)
def upload_margins_page(
    request: Request,
    admin: ConsoleAdmin,
    campaign: CampaignById,
    session: SessionDep,
    cache: FormCacheDep,
    upload: UploadDep,
) -> Response:
    """Check an uploaded margins table row by row; store it only when every row is sound."""
    if upload.fields.get("clear") == "1":
        api.update_campaign(admin, campaign, CampaignUpdate(margins=None), session, cache)
        return RedirectResponse(f"/admin/campaigns/{campaign.id}?done=margins", status_code=303)
    errors: list[dict[str, Any]]
    if not upload.data:
        errors = [_error(request, "", "file", "admin.campaigns.err.file")]
    else:
        try:
            margins, errors = check_margins(
                request, session, read_table(upload.data, upload.filename)
            )
        except Invalid:
            errors = [_error(request, "", "file", "admin.campaigns.err.unreadable")]
    if errors:
        return detail_page(request, session, campaign, margin_errors=errors, status_code=422)
    api.update_campaign(admin, campaign, CampaignUpdate(margins=margins), session, cache)
    return RedirectResponse(f"/admin/campaigns/{campaign.id}?done=margins", status_code=303)


# ------------------------------------------------------------------ paper responses

# What the import service says, as the page's words (the service speaks English for the API).
_IMPORT_WORDS = (
    ("unknown column", "admin.campaigns.import.err.column"),
    ("missing column", "admin.campaigns.import.err.missing"),
    ("required", "admin.campaigns.import.err.required"),
    ("outside the campaign", "admin.campaigns.import.err.window"),
    ("already stored", "admin.campaigns.import.err.stored"),
    ("the same as row", "admin.campaigns.import.err.repeated"),
    ("unknown unit", "admin.campaigns.import.err.unit"),
    ("option", "admin.campaigns.import.err.choice"),
    ("between", "admin.campaigns.import.err.range"),
    ("number", "admin.campaigns.import.err.number"),
    ("more than", "admin.campaigns.import.err.too_many"),
    ("utf-8", "admin.campaigns.err.unreadable"),
    ("json", "admin.campaigns.err.unreadable"),
    ("empty", "admin.campaigns.margins.err.empty"),
)


def import_errors(request: Request, errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The import service's errors as rows of (row, column, message in the page's language)."""
    out = []
    for e in errors[:MAX_ERRORS]:
        loc = [str(p) for p in e.get("loc", [])]
        row: int | str = e.get("row", "")
        rest = loc[2:] if loc[:1] == ["row"] else []
        column = ".".join(p for p in rest if p not in ("answers", "profile"))
        msg = str(e.get("msg", ""))
        key = next((k for needle, k in _IMPORT_WORDS if needle in msg.lower()), "")
        message = (
            t(request, key) if key else t(request, "admin.campaigns.import.err.other", msg=msg)
        )
        out.append({"row": row, "column": column, "message": message})
    return out


def _check(
    session: Session, campaign: Campaign, upload: Upload, secret: str, *, dry_run: bool
) -> int:
    rows, first = imports.rows_from_upload(
        session, campaign, upload.data, filename=upload.filename, content_type=upload.content_type
    )
    return imports.import_responses(
        session, campaign=campaign, rows=rows, secret=secret, first_row=first, dry_run=dry_run
    )


def _preview_rows(upload: Upload) -> list[list[str]]:
    if upload.filename.lower().endswith(".json"):
        return []
    try:
        return read_table(upload.data, upload.filename)[: PREVIEW_ROWS + 1]
    except Invalid:
        return []


def _import_page(
    request: Request,
    campaign: Campaign,
    upload: Upload,
    *,
    count: int,
    errors: list[dict[str, Any]],
) -> HTMLResponse:
    rows = _preview_rows(upload)
    bad = {(e["row"], e["column"]) for e in errors}
    ctx = {
        "section": "campaigns",
        "campaign": campaign,
        "header": rows[0] if rows else [],
        "rows": [(n, r) for n, r in enumerate(rows[1:], start=2)],
        "bad": bad,
        "bad_rows": {e["row"] for e in errors},
        "errors": errors,
        "count": count,
        "filename": upload.filename,
        "payload": base64.b64encode(upload.data).decode() if not errors else "",
    }
    return console_render(
        request, "admin/campaign_import.html", ctx, status_code=422 if errors else 200
    )


@router.post("/admin/campaigns/{campaign_id}/import", response_class=HTMLResponse)
def import_responses_page(
    request: Request,
    admin: ConsoleAdmin,
    campaign: CampaignById,
    session: SessionDep,
    settings: SettingsDep,
    upload: UploadDep,
) -> Response:
    """Paper responses: preview an upload (checked, nothing stored), or import a confirmed one."""
    confirmed = upload.fields.get("step") == "confirm"
    if confirmed:
        try:
            upload.data = base64.b64decode(upload.fields.get("payload", ""), validate=True)
        except (binascii.Error, ValueError):
            upload.data = b""
        upload.filename = upload.fields.get("filename", "")[:200]
    if not upload.data:
        errors = [_error(request, "", "file", "admin.campaigns.err.file")]
        return detail_page(request, session, campaign, import_errors=errors, status_code=422)
    secret = settings.secret_key or ""
    try:
        n = _check(session, campaign, upload, secret, dry_run=not confirmed)
    except Invalid as exc:
        found = import_errors(request, exc.errors)
        return _import_page(request, campaign, upload, count=0, errors=found)
    if not confirmed:
        return _import_page(request, campaign, upload, count=n, errors=[])
    audit.record(
        session,
        actor=admin.username,
        action="responses.import",
        target=str(campaign.id),
        rows=n,
        file=upload.filename,
    )
    return RedirectResponse(f"/admin/campaigns/{campaign.id}?done=imported&n={n}", status_code=303)
