"""Routes of the evaluator dashboard: every figure as Plotly JSON, every table as a download,
the bundle the page refetches when a filter changes, and the self-contained report."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlmodel import select

from analytics import dashboard_data, table_export
from analytics import report as html_report
from analytics.dashboard_cache import StaleWhileRevalidate
from analytics.dashboard_data import FIGURE_NAMES, TABLE_NAMES, VOTE_FIGURES, Dashboard, DashFilters
from analytics.indicators import MONTH_PATTERN
from service import audit
from service.auth import EvaluatorUser, SettingsDep
from service.db import SessionDep, get_or_404
from service.errors import Invalid, NotFound
from surveys.forms.models import Campaign
from surveys.units.models import Unit, UnitKind

router = APIRouter(prefix="/api/v1", tags=["dashboard"])

Lang = Literal["zh-CN", "en"]
Period = Literal["day", "week", "month"]
# Unit codes as units define them; search text without NUL (PostgreSQL cannot hold it).
CODE = r"^[A-Za-z0-9_.:-]*$"
NO_NUL = r"^[^\x00]*$"
PLOTLY_JSON = {200: {"content": {"application/json": {}}, "description": "Plotly figure JSON"}}


def valid_figure_name(name: str) -> str:
    """A known figure name, or 404."""
    if name not in FIGURE_NAMES:
        raise NotFound(f"Unknown figure '{name}'; figures: {', '.join(FIGURE_NAMES)}")
    return name


def valid_table_name(name: str) -> str:
    """A known table name, or 404."""
    if name not in TABLE_NAMES:
        raise NotFound(f"Unknown table '{name}'; tables: {', '.join(TABLE_NAMES)}")
    return name


def _check_unit(session: SessionDep, code: str | None, field: str) -> None:
    if code and session.exec(select(Unit.id).where(Unit.code == code)).first() is None:
        raise Invalid.field(("query", field), f"unknown unit code '{code}'")


def _campaign(session: SessionDep, campaign_id: int | None) -> Campaign | None:
    if campaign_id is None:
        return None
    return get_or_404(session, Campaign, campaign_id, "Campaign")


class Options:
    """The filters, language and voting session of a dashboard request (validated)."""

    def __init__(
        self,
        session: SessionDep,
        settings: SettingsDep,
        period: Period = "month",
        area: Annotated[str | None, Query(max_length=64, pattern=CODE)] = None,
        unit_kind: UnitKind | Literal[""] | None = None,  # blank: all (the plain form)
        weighted: bool = False,
        include_flagged: bool = False,
        unit_code: Annotated[str | None, Query(max_length=64, pattern=CODE)] = None,
        session_id: Annotated[int | None, Query(ge=1)] = None,
        lang: Lang = "zh-CN",
        # One calendar month, or blank for all (the page's plain form sends empty fields).
        month: Annotated[
            str | None, Query(pattern=f"^({MONTH_PATTERN})?$", description="YYYY-MM")
        ] = None,
    ) -> None:
        _check_unit(session, area, "area")
        _check_unit(session, unit_code, "unit_code")
        self.filters = DashFilters(
            period=period,
            area=area or None,
            unit_kind=unit_kind.value if unit_kind else None,
            weighted=weighted,
            include_flagged=include_flagged,
            unit_code=unit_code or None,
            month=month or None,
        )
        self.lang: str = lang
        self.session_id = session_id
        self.k = settings.min_group_size

    def dashboard(self, session: SessionDep, campaign: Campaign | None) -> Dashboard:
        return Dashboard(
            session,
            campaign=campaign,
            filters=self.filters,
            lang=self.lang,
            min_group_size=self.k,
            voting_session_id=self.session_id,
        )


def dashboard_dep(
    session: SessionDep,
    options: Annotated[Options, Depends()],
    campaign_id: Annotated[int | None, Query(ge=1)] = None,
) -> Dashboard:
    """The dashboard of the query's campaign (404 when it does not exist) under the filters."""
    return options.dashboard(session, _campaign(session, campaign_id))


def report_dep(
    session: SessionDep, options: Annotated[Options, Depends()], campaign_id: int
) -> Dashboard:
    """The dashboard of the path's campaign (404 when it does not exist) under the filters."""
    return options.dashboard(session, _campaign(session, campaign_id))


DashboardDep = Annotated[Dashboard, Depends(dashboard_dep)]
_cache_lock = threading.Lock()


def bundle_cache(request: Request) -> StaleWhileRevalidate:
    """The app's cache of dashboard bundles (one per app, made on first use)."""
    state = request.app.state
    with _cache_lock:
        if getattr(state, "dashboard_cache", None) is None:
            state.dashboard_cache = StaleWhileRevalidate()
        cache: StaleWhileRevalidate = state.dashboard_cache
    return cache


def _needs_campaign(dash: Dashboard, names: list[str]) -> None:
    if dash.campaign is None and any(n not in VOTE_FIGURES for n in names):
        raise Invalid.field(("query", "campaign_id"), "Field required")


@router.get("/figures/{name}", response_class=Response, responses=PLOTLY_JSON)
def read_figure(
    user: EvaluatorUser, name: Annotated[str, Depends(valid_figure_name)], dash: DashboardDep
) -> Response:
    """One dashboard figure as Plotly JSON, for ``Plotly.newPlot(div, fig.data, fig.layout)``.

    responses, ranking, heatmap, profile, trends, breakdown_area, breakdown_profile,
    sentiment and themes need ``campaign_id``; vote and tracker take ``session_id`` (default:
    the latest published voting session)."""
    _needs_campaign(dash, [name])
    return Response(dashboard_data.figure_json(dash, name), media_type="application/json")


@router.get("/dashboard", response_class=Response, responses=PLOTLY_JSON)
def read_dashboard(
    user: EvaluatorUser,
    dash: DashboardDep,
    cache: Annotated[StaleWhileRevalidate, Depends(bundle_cache)],
    request: Request,
    names: Annotated[str | None, Query(max_length=500, description="comma-separated")] = None,
) -> Response:
    """Headline numbers and several figures (all by default) computed together:
    ``{"headline": {...}, "figures": {name: figure}, "computed_at": ...}``. What the page
    shows: served from a cache refreshed in the background, so at most a refresh old."""
    wanted = [n.strip() for n in (names or "").split(",") if n.strip()]
    bad = [n for n in wanted if n not in FIGURE_NAMES]
    if bad:
        raise Invalid.field(("query", "names"), f"unknown figure(s): {', '.join(bad)}")
    _needs_campaign(dash, wanted or ["ranking"])
    body = dashboard_data.cached_bundle(cache, request.app.state.engine, dash, wanted)
    return Response(body, media_type="application/json")


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TABLE_TYPES = {
    200: {
        "content": {"text/csv": {}, XLSX: {}, "application/json": {}},
        "description": "The table as CSV (UTF-8 with BOM), XLSX or JSON",
    }
}


@router.get("/tables/{name}", response_class=Response, responses=TABLE_TYPES)
def read_table(
    user: EvaluatorUser,
    name: Annotated[str, Depends(valid_table_name)],
    dash: DashboardDep,
    session: SessionDep,
    format: Literal["csv", "xlsx", "json"] = "csv",
    q: Annotated[str | None, Query(max_length=100, pattern=NO_NUL)] = None,
    sentiment: Literal["positive", "neutral", "negative"] | None = None,
) -> Response:
    """The table behind a figure, or the comment list (searchable with ``q``), as CSV
    (UTF-8 with BOM), XLSX or JSON. Suppressed rows carry no values."""
    _needs_campaign(dash, [name])
    rows, truncated = dashboard_data.table_rows(dash, name, q=q, sentiment=sentiment)
    if format == "json":
        body = dashboard_data.json_for_html({"rows": rows, "truncated": truncated})
        return Response(body, media_type="application/json")
    audit.record(
        session,
        actor=user.username,
        action="table.export",
        target=name,
        campaign_id=dash.campaign.id if dash.campaign else None,
        session_id=dash.voting_session_id,
        format=format,
        rows=len(rows),
    )
    owner = dash.campaign.id if dash.campaign else (dash.voting_session_id or "vote")
    if format == "xlsx":
        body_bytes = table_export.to_xlsx(rows, title=name)
        media = XLSX
    else:
        body_bytes = table_export.to_csv(rows)
        media = "text/csv; charset=utf-8"
    return Response(
        body_bytes,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="minyi-{name}-{owner}.{format}"'},
    )


@router.get(
    "/reports/{campaign_id}",
    response_class=Response,
    responses={200: {"content": {"text/html": {}}, "description": "The report, one HTML file"}},
)
def read_report(
    user: EvaluatorUser, dash: Annotated[Dashboard, Depends(report_dep)], session: SessionDep
) -> Response:
    """A self-contained HTML report of the campaign: every chart (interactive, with plotly.js
    inside the file), the tables and the method; it opens offline and prints cleanly."""
    html = html_report.build(dash, generated_at=datetime.now(UTC))
    campaign_id = dash.campaign_id
    audit.record(session, actor=user.username, action="report.export", target=str(campaign_id))
    return Response(
        html,
        media_type="text/html; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="minyi-report-{campaign_id}.html"'},
    )
