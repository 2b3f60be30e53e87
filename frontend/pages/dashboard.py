"""The evaluator dashboard page: the shell, the filters and the first figures embedded as
JSON data blocks (no inline script); dashboard.js draws them and refetches on filter change."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func
from sqlmodel import Session, col, select

from analytics import figures
from analytics.dashboard import service as dashboard
from analytics.dashboard.dependencies import Options
from analytics.dashboard.options import COMMENT_LIMIT
from analytics.indicators import lookups
from frontend.i18n import request_language, translate
from frontend.templating import render
from service.auth import OptionalUser, SettingsDep
from service.db import AnalyticsSessionDep, utcnow
from service.models import Role
from surveys.forms.models import Campaign, SurveyResponse

router = APIRouter(include_in_schema=False)


def _main_campaign(session: Session) -> int | None:
    """The campaign the dashboard opens on: the open one with the most responses (a new,
    nearly empty campaign would otherwise hide the main one); None when none is open."""
    now = utcnow()
    rows = session.execute(
        select(col(SurveyResponse.campaign_id), func.count())
        .join(Campaign, col(Campaign.id) == col(SurveyResponse.campaign_id))
        .where(col(Campaign.opens_at) <= now, col(Campaign.closes_at) > now)
        .group_by(col(SurveyResponse.campaign_id))
        .order_by(func.count().desc(), col(SurveyResponse.campaign_id).desc())
        .limit(1)
    ).first()
    return int(rows[0]) if rows else None


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard_page(
    request: Request,
    user: OptionalUser,
    session: AnalyticsSessionDep,
    settings: SettingsDep,
    options: Annotated[Options, Depends()],
    campaign_id: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """Charts of a campaign for evaluators and admins (login first; 403 for other roles)."""
    lang = request_language(request)
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse("/login?" + urlencode({"next": target, "lang": lang}), 303)
    if user.role not in (Role.admin, Role.evaluator):
        msg = translate(lang, "dash.forbidden")
        return render(request, "error.html", {"message": msg}, status_code=403)
    if options.filters.include_flagged and user.role != Role.admin:
        # The raw data's switch is the admin's alone, here as on the API.
        msg = translate(lang, "dash.flagged_forbidden")
        return render(request, "error.html", {"message": msg}, status_code=403)
    options.lang = lang  # the page language decides (cookie, ?lang=, Accept-Language)
    campaigns = lookups.campaign_choices(session, lang=lang)
    if campaign_id is None and campaigns:
        campaign_id = _main_campaign(session) or campaigns[0]["id"]
    campaign = session.get(Campaign, campaign_id) if campaign_id else None
    can_weight = campaign is not None and bool(campaign.margins)
    if not can_weight:
        # Weighting needs the campaign's population margins: without them the checkbox is
        # disabled (the API still answers 422 to a weighted request).
        options.filters = dataclasses.replace(options.filters, weighted=False)
    dash = options.dashboard(session, campaign)
    strings = {
        "loading": translate(lang, "dash.loading"),
        "failed": translate(lang, "dash.load_failed"),
        "comments_empty": translate(lang, "dash.comments.empty"),
        "comments_more": translate(lang, "dash.comments.more", n=COMMENT_LIMIT),
        "computed_at": translate(lang, "dash.computed_at", time="{time}"),
        "time_zone": settings.time_zone,
    }
    ctx = dashboard.page_context(dash, campaigns=campaigns, strings=strings)
    f = dash.filters

    def table_url(name: str, fmt: str) -> str:
        params: dict[str, Any] = {"format": fmt, "lang": lang, "period": f.period}
        extra = {
            "campaign_id": campaign.id if campaign else None,
            "area": f.area,
            "unit_kind": f.unit_kind,
            "unit_code": f.unit_code,
            "session_id": ctx["voting_session_id"],
            "weighted": "true" if f.weighted else None,
            "include_flagged": "true" if f.include_flagged else None,
            "month": f.month,
        }
        params.update({k: v for k, v in extra.items() if v is not None})
        return f"/api/v1/tables/{name}?" + urlencode(params)

    ctx.update(
        table_url=table_url,
        figure_label=lambda key: figures.label(lang, key),
        min_group_size=settings.min_group_size,
        can_include_flagged=user.role == Role.admin,
        can_weight=can_weight,
    )
    return render(request, "dashboard.html", ctx)
