"""The console's campaigns: /admin/campaigns.

The list; a new campaign (questionnaire, units, titles, window, access, profile questions);
one campaign's page (edit titles and window, open now, close early after a confirmation step,
progress, invitation codes, population margins, paper responses, exports, flagged responses).
Every write calls the API's own route function (``surveys.forms.router``), so the page and the
API check and audit alike. Invitation codes exist in clear only in the answer that creates
them (a printable QR sheet, or a CSV or XLSX file), never stored. The margins and the paper
import routes are in ``campaign_files``.
"""

from __future__ import annotations

from typing import Annotated, Any

import segno
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session, col, select

from analytics.dashboard import tables
from frontend.i18n import request_language
from frontend.pages.admin import campaign_files, evaluation_campaigns
from frontend.pages.admin.access import ConsoleAdmin, ConsoleRoute
from frontend.pages.admin.campaign_detail import (
    detail_page,
    flash_for,
    input_time,
    parse_input_time,
    t,
)
from frontend.pages.admin.common import console_render
from service.auth import SettingsDep
from service.db import SessionDep, utcnow
from service.errors import Conflict, Invalid
from service.localtime import local_time
from surveys.evaluation.campaigns import Fixed
from surveys.forms import exports, service
from surveys.forms import router as api
from surveys.forms.dependencies import CampaignById, FormCacheDep
from surveys.forms.models import Access
from surveys.forms.schemas import CampaignCreate, CampaignUpdate, InvitationsCreate
from surveys.units.models import Unit

router = APIRouter(route_class=ConsoleRoute)
router.include_router(campaign_files.router)
# Before this router's /admin/campaigns/{campaign_id}: "new-evaluation" is not an id.
router.include_router(evaluation_campaigns.router)

CREATE_FIELDS = ("survey_id", "title", "title_en", "opens_at", "closes_at", "access", "unit_codes")
PROFILE_FIELDS = ("area", "age_band", "sex")
# A printed sheet holds this many cards at most; files may carry as many as the API allows.
SHEET_MAX = 500
FILE_MAX = 10_000
FORMATS = ("sheet", "csv", "xlsx")


async def _form_fields(request: Request) -> dict[str, Any]:
    """The posted form: text fields as strings, repeated checkboxes as lists."""
    form = await request.form()
    out: dict[str, Any] = {k: v for k, v in form.items() if isinstance(v, str)}
    for name in ("unit_codes", "profile_fields"):
        out[name] = [v for v in form.getlist(name) if isinstance(v, str)]
    return out


FormFields = Annotated[dict[str, Any], Depends(_form_fields)]


def field_errors(
    request: Request, errors: list[dict[str, Any]], fields: tuple[str, ...]
) -> dict[str, str]:
    """API-shaped errors as {form field: message}; the window's own check names closes_at."""
    out: dict[str, str] = {}
    for e in errors:
        loc = [str(p) for p in e.get("loc", []) if p != "body"]
        name = loc[0] if loc and loc[0] in fields else ""
        msg = str(e.get("msg", ""))
        if not name:
            name = "unit_codes" if "unit_codes" in msg else "closes_at"
        key = "admin.campaigns.err.window" if "after opens_at" in msg else ""
        if name == "unit_codes" and "unknown unit" in msg:
            key = "admin.campaigns.err.unit_unknown"
        if name == "unit_codes" and "is deactivated" in msg:
            key = "admin.campaigns.err.unit_inactive"
        out.setdefault(name, t(request, key or f"admin.campaigns.err.{name}"))
    return out


def _new_page(
    request: Request,
    session: Session,
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    now = utcnow()
    units = session.exec(
        select(Unit).where(col(Unit.is_active).is_(True)).order_by(col(Unit.kind), col(Unit.id))
    ).all()
    ctx = {
        "section": "campaigns",
        "surveys": service.list_surveys(session),
        "units": units,
        "profile_choices": PROFILE_FIELDS,
        "form": form
        or {
            "survey_id": "",
            "title": "",
            "title_en": "",
            "opens_at": input_time(request, now),
            "closes_at": "",
            "access": "open",
            "unit_codes": [],
            "profile_fields": [],
        },
        "errors": errors or {},
    }
    return console_render(request, "admin/campaign_new.html", ctx, status_code=status_code)


@router.get("/admin/campaigns", response_class=HTMLResponse)
def campaigns_page(request: Request, admin: ConsoleAdmin, session: SessionDep) -> HTMLResponse:
    """Every campaign, newest first, with its state and response counts."""
    ctx = {
        "section": "campaigns",
        "campaigns": service.list_campaigns(session),
        "flash": flash_for(request),
    }
    return console_render(request, "admin/campaigns.html", ctx)


@router.get("/admin/campaigns/new", response_class=HTMLResponse)
def new_campaign_page(request: Request, admin: ConsoleAdmin, session: SessionDep) -> HTMLResponse:
    """The form for a new campaign."""
    return _new_page(request, session)


@router.post("/admin/campaigns", response_class=HTMLResponse)
def create_campaign_page(
    request: Request, admin: ConsoleAdmin, session: SessionDep, fields: FormFields
) -> Response:
    """Create a campaign; a refused field is named beside it with the input kept (422)."""
    form = {k: fields.get(k, "") for k in CREATE_FIELDS if k != "unit_codes"}
    form = {k: v.strip() if isinstance(v, str) else v for k, v in form.items()}
    form["unit_codes"] = fields["unit_codes"]
    form["profile_fields"] = fields["profile_fields"]
    errors: dict[str, str] = {}
    times = {}
    for name in ("opens_at", "closes_at"):
        times[name] = parse_input_time(request, form[name])
        if times[name] is None:
            errors[name] = t(request, "admin.campaigns.err.when")
    body = {
        "survey_id": form["survey_id"] or None,
        "title": form["title"],
        "title_en": form["title_en"],
        "opens_at": times["opens_at"],
        "closes_at": times["closes_at"],
        "access": form["access"],
        "unit_codes": form["unit_codes"],
        "profile_fields": form["profile_fields"],
    }
    try:
        data = CampaignCreate.model_validate(body)
    except ValidationError as exc:
        found = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
        for name, message in field_errors(request, found, CREATE_FIELDS).items():
            errors.setdefault(name, message)
    if errors:
        return _new_page(request, session, form=form, errors=errors, status_code=422)
    try:
        created = api.create_campaign(admin, data, session)
    except Invalid as exc:
        errors = field_errors(request, exc.errors, CREATE_FIELDS)
        return _new_page(request, session, form=form, errors=errors, status_code=422)
    return RedirectResponse(f"/admin/campaigns/{created.id}?done=created", status_code=303)


@router.get("/admin/campaigns/{campaign_id}", response_class=HTMLResponse)
def campaign_page(
    request: Request, admin: ConsoleAdmin, campaign: CampaignById, session: SessionDep
) -> HTMLResponse:
    """One campaign: state, edit form, progress, invitations, margins, imports, exports."""
    return detail_page(request, session, campaign)


def _update(admin: Any, campaign: Any, session: Session, cache: Any, **changes: Any) -> None:
    api.update_campaign(admin, campaign, CampaignUpdate(**changes), session, cache)


@router.post("/admin/campaigns/{campaign_id}", response_class=HTMLResponse)
def update_campaign_page(
    request: Request,
    admin: ConsoleAdmin,
    campaign: CampaignById,
    session: SessionDep,
    cache: FormCacheDep,
    fields: FormFields,
) -> Response:
    """Change the titles and the window (the start only before it opens)."""
    status = service.status_at(campaign.opens_at, campaign.closes_at, utcnow())
    names = ("title", "title_en", "closes_at") + (("opens_at",) if status == "scheduled" else ())
    form = {
        k: str(fields.get(k, "")).strip() for k in ("title", "title_en", "opens_at", "closes_at")
    }
    if status != "scheduled":
        form["opens_at"] = input_time(request, campaign.opens_at)
    errors: dict[str, str] = {}
    changes: dict[str, Any] = {"title": form["title"], "title_en": form["title_en"]}
    for name in names[2:]:
        when = parse_input_time(request, form[name])
        if when is None:
            errors[name] = t(request, "admin.campaigns.err.when")
        else:
            changes[name] = when
    try:
        data = CampaignUpdate(**changes)
    except ValidationError as exc:
        found = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
        for name, message in field_errors(request, found, names).items():
            errors.setdefault(name, message)
    if not errors:
        try:
            api.update_campaign(admin, campaign, data, session, cache)
        except Invalid as exc:
            errors = field_errors(request, exc.errors, names)
        except Fixed as exc:
            # A democratic evaluation refuses a window that would thaw it or reopen it.
            name = str(exc.extra["field"])
            reason = t(request, f"evaluation.admin.err.fixed_{exc.extra['reason']}")
            errors = {name if name in names else "closes_at": reason}
    if errors:
        # Nothing was changed: the checks run before the service writes a field.
        return detail_page(request, session, campaign, form=form, errors=errors, status_code=422)
    return RedirectResponse(f"/admin/campaigns/{campaign.id}?done=updated", status_code=303)


@router.post("/admin/campaigns/{campaign_id}/open", response_class=HTMLResponse)
def open_campaign_page(
    request: Request,
    admin: ConsoleAdmin,
    campaign: CampaignById,
    session: SessionDep,
    cache: FormCacheDep,
) -> Response:
    """Open a scheduled campaign now (its start moves to this minute)."""
    if service.status_at(campaign.opens_at, campaign.closes_at, utcnow()) != "scheduled":
        raise Conflict("Only a campaign that has not started can be opened now")
    _update(admin, campaign, session, cache, opens_at=utcnow())
    return RedirectResponse(f"/admin/campaigns/{campaign.id}?done=opened", status_code=303)


def _refuse_close(campaign: Any) -> None:
    if service.status_at(campaign.opens_at, campaign.closes_at, utcnow()) != "open":
        raise Conflict("Only an open campaign can be closed early")


@router.get("/admin/campaigns/{campaign_id}/close", response_class=HTMLResponse)
def close_confirm_page(
    request: Request, admin: ConsoleAdmin, campaign: CampaignById, session: SessionDep
) -> HTMLResponse:
    """The confirmation step before closing a campaign early."""
    _refuse_close(campaign)
    ctx = {"section": "campaigns", "c": service.campaign_public(session, campaign=campaign)}
    return console_render(request, "admin/campaign_close.html", ctx)


@router.post("/admin/campaigns/{campaign_id}/close", response_class=HTMLResponse)
def close_campaign_page(
    request: Request,
    admin: ConsoleAdmin,
    campaign: CampaignById,
    session: SessionDep,
    cache: FormCacheDep,
) -> Response:
    """Close an open campaign now: the survey stops taking responses at once."""
    _refuse_close(campaign)
    _update(admin, campaign, session, cache, closes_at=utcnow())
    return RedirectResponse(f"/admin/campaigns/{campaign.id}?done=closed", status_code=303)


def _invite_errors(request: Request, raw: str, fmt: str) -> dict[str, str]:
    limit = SHEET_MAX if fmt == "sheet" else FILE_MAX
    errors: dict[str, str] = {}
    if not raw.isdigit() or not 1 <= int(raw) <= limit:
        errors["count"] = t(request, "admin.campaigns.err.count", n=limit)
    if fmt not in FORMATS:
        errors["format"] = t(request, "admin.campaigns.err.format")
    return errors


@router.post("/admin/campaigns/{campaign_id}/invitations", response_class=HTMLResponse)
def create_invitations_page(
    request: Request,
    admin: ConsoleAdmin,
    campaign: CampaignById,
    session: SessionDep,
    settings: SettingsDep,
    fields: FormFields,
) -> Response:
    """Create invitation codes and hand them over once: a printable QR sheet, CSV or XLSX."""
    invite = {
        "count": str(fields.get("count", "")).strip(),
        "batch": str(fields.get("batch", "")).strip(),
        "format": str(fields.get("format", "") or "sheet"),
        "rater_group": str(fields.get("rater_group", "")).strip(),
    }
    errors = _invite_errors(request, invite["count"], invite["format"])
    if len(invite["batch"]) > 64:
        errors["batch"] = t(request, "admin.campaigns.err.batch")
    groups = {g["key"]: g for g in (campaign.evaluation or {}).get("groups", [])}
    if groups and invite["rater_group"] not in groups:
        errors["rater_group"] = t(request, "evaluation.admin.err.rater_group")
    if errors:
        return detail_page(
            request, session, campaign, invite=invite, errors=errors, status_code=422
        )
    # The label is fixed here so the file can carry it (the service would name it the same).
    batch = invite["batch"] or local_time(utcnow(), settings.time_zone)
    data = InvitationsCreate(
        count=int(invite["count"]), batch=batch, rater_group=invite["rater_group"] or None
    )
    codes = api.create_invitations(admin, campaign, data, session, settings).codes
    base = str(request.base_url).rstrip("/")
    links = [(code, f"{base}/s/{campaign.id}?code={code}") for code in codes]
    response: Response
    group = groups.get(invite["rater_group"], {})
    group_label = (
        str(group.get("label_en") or group.get("label", ""))
        if request_language(request) == "en"
        else str(group.get("label", ""))
    )
    if invite["format"] == "sheet":
        response = _sheet(request, campaign, links, group_label)
    else:
        rows = [{"code": code, "url": url, "batch": batch} for code, url in links]
        if group:
            rows = [{**r, "rater_group": group_label} for r in rows]
        fmt = invite["format"]
        body = tables.to_csv(rows) if fmt == "csv" else tables.to_xlsx(rows, title="codes")
        media = exports.MEDIA[fmt]
        name = f"campaign-{campaign.id}-codes.{fmt}"
        response = Response(
            body,
            status_code=201,
            media_type=media,
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    # The codes are in this answer only: never kept by a cache or the history.
    response.headers["Cache-Control"] = "no-store"
    return response


def _sheet(
    request: Request, campaign: Any, links: list[tuple[str, str]], group: str = ""
) -> HTMLResponse:
    lang = request_language(request)
    cards = [
        {"code": code, "svg": segno.make(url, error="m").svg_inline(scale=3, border=2)}
        for code, url in links
    ]
    title = campaign.title_en if lang == "en" and campaign.title_en else campaign.title
    ctx = {
        "section": "campaigns",
        "cards": cards,
        "title": title,
        "closes": campaign.closes_at,
        "campaign_id": campaign.id,
        "access": Access.invitation,
        "group": group,
    }
    return console_render(request, "admin/campaign_invitations.html", ctx, status_code=201)
