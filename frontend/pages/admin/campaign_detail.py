"""The campaign page's context, shared by its routes: a refused form (edit, invitations,
margins) draws the whole page again with the errors beside their fields and the input kept.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from frontend.i18n import request_language, translate
from frontend.pages.admin.common import console_render
from service.localtime import zone
from surveys.evaluation import service as evaluation
from surveys.forms import progress, service
from surveys.forms.models import Access, Campaign
from surveys.forms.response_rate import response_rate

# Flash messages after a 303, by the ``done`` query value.
DONE = ("created", "updated", "closed", "opened", "margins", "imported")
LOCAL_INPUT = "%Y-%m-%dT%H:%M"  # the value of an <input type="datetime-local">


def t(request: Request, key: str, **kw: Any) -> str:
    """A console message in the request's language."""
    return translate(request_language(request), key, **kw)


def input_time(request: Request, value: datetime) -> str:
    """A stored time as a datetime-local input's value, in the office's zone."""
    return value.astimezone(zone(request.app.state.settings.time_zone)).strftime(LOCAL_INPUT)


def parse_input_time(request: Request, raw: str) -> datetime | None:
    """A datetime-local input's value, read in the office's zone; None when unreadable."""
    office = zone(request.app.state.settings.time_zone)
    try:
        # The input carries no zone: the office's is the one the admin typed in.
        return datetime.strptime(raw.strip()[:16], LOCAL_INPUT).replace(tzinfo=office)
    except ValueError:
        return None


def flash_for(request: Request) -> str:
    """The success message named by ``?done=`` (after a 303 from a write)."""
    done = request.query_params.get("done", "")
    if done not in DONE:
        return ""
    n = request.query_params.get("n", "")
    return t(request, f"admin.campaigns.done.{done}", n=n if n.isdigit() else "")


def edit_form(request: Request, campaign: Campaign) -> dict[str, str]:
    """The edit form's values as stored."""
    return {
        "title": campaign.title,
        "title_en": campaign.title_en,
        "opens_at": input_time(request, campaign.opens_at),
        "closes_at": input_time(request, campaign.closes_at),
    }


def detail_page(
    request: Request,
    session: Session,
    campaign: Campaign,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    invite: dict[str, str] | None = None,
    margin_errors: list[dict[str, Any]] | None = None,
    import_errors: list[dict[str, Any]] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The campaign page: state, edit form, progress, invitations, margins, imports, exports."""
    settings = request.app.state.settings
    cid = campaign.id or 0
    public = service.campaign_public(session, campaign=campaign)
    rate = (
        response_rate(session, campaign=campaign) if campaign.access == Access.invitation else None
    )
    margins = [
        (variable, category, share)
        for variable, shares in sorted((campaign.margins or {}).items())
        if isinstance(shares, dict)
        for category, share in shares.items()
    ]
    ctx: dict[str, Any] = {
        "section": "campaigns",
        "c": public,
        "flash": flash_for(request),
        "form": form or edit_form(request, campaign),
        "errors": errors or {},
        "invite": invite or {"count": "20", "batch": "", "format": "sheet"},
        "margin_rows": margins,
        "margin_errors": margin_errors or [],
        "import_errors": import_errors or [],
        "flagged": service.flagged_responses(
            session, campaign_id=cid, secret=settings.secret_key or "", limit=200
        ),
        "invitations": service.invitation_counts(session, campaign_id=cid),
        "response_rate": rate,
        "by_day": progress.responses_by_day(session, campaign_id=cid, time_zone=settings.time_zone),
        "by_unit": progress.responses_by_unit(session, campaign_id=cid),
        # A democratic evaluation's codes are made per rater group.
        "rater_groups": (campaign.evaluation or {}).get("groups", []),
        "sheets": evaluation.responses_per_group(session, campaign_id=cid)
        if evaluation.is_evaluation(campaign)
        else {},
        "codes": evaluation.codes_per_group(session, campaign_id=cid)
        if evaluation.is_evaluation(campaign)
        else {},
        # A weighted group with fewer raters than this is pooled with another group.
        "k": settings.min_group_size,
    }
    return console_render(request, "admin/campaign.html", ctx, status_code=status_code)
