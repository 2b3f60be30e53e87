"""Routes of the evaluator dashboard: every figure as Plotly JSON, every table as a download,
the bundle the page refetches when a filter changes, and the self-contained report."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response

from analytics import report as html_report
from analytics.dashboard import bundle, service, tables
from analytics.dashboard.dependencies import (
    NO_NUL,
    BundleCacheDep,
    DashboardDep,
    EngineDep,
    OffloadDep,
    needs_campaign,
    report_dep,
    valid_figure_name,
    valid_table_name,
)
from analytics.dashboard.options import FIGURE_NAMES
from analytics.dashboard.service import Dashboard
from service import audit
from service.auth import EvaluatorUser, SettingsDep
from service.db import SessionDep
from service.errors import Invalid

router = APIRouter(prefix="/api/v1", tags=["dashboard"])

PLOTLY_JSON: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {}}, "description": "Plotly figure JSON"}
}


@router.get("/figures/{name}", response_class=Response, responses=PLOTLY_JSON)
def read_figure(
    user: EvaluatorUser, name: Annotated[str, Depends(valid_figure_name)], dash: DashboardDep
) -> Response:
    """One dashboard figure as Plotly JSON, for ``Plotly.newPlot(div, fig.data, fig.layout)``.

    responses, ranking, heatmap, profile, trends, breakdown_area, breakdown_profile,
    sentiment and themes need ``campaign_id``; vote and tracker take ``session_id`` (default:
    the latest published voting session)."""
    needs_campaign(dash, [name])
    return Response(bundle.figure_json(dash, name), media_type="application/json")


# A sync route on purpose: FastAPI runs it in the thread pool, so the event loop keeps serving
# while a bundle is computed (seconds on a large campaign). uvicorn's supervisor pings each
# worker through a pipe answered by a thread of its own and kills a worker silent for 5 s; that
# thread needs only the GIL, which Python hands over every few milliseconds, so what must never
# happen in a bundle is one C call holding it for seconds (a fetch of millions of rows).
@router.get("/dashboard", response_class=Response, responses=PLOTLY_JSON)
def read_dashboard(
    user: EvaluatorUser,
    dash: DashboardDep,
    cache: BundleCacheDep,
    engine: EngineDep,
    offload: OffloadDep,
    names: Annotated[str | None, Query(max_length=500, description="comma-separated")] = None,
) -> Response:
    """Headline numbers and several figures (all by default) computed together:
    ``{"headline": {...}, "figures": {name: figure}, "computed_at": ...}``. What the page
    shows: served from a cache refreshed in the background, so at most a refresh old."""
    wanted = [n.strip() for n in (names or "").split(",") if n.strip()]
    bad = [n for n in wanted if n not in FIGURE_NAMES]
    if bad:
        raise Invalid.field(("query", "names"), f"unknown figure(s): {', '.join(bad)}")
    needs_campaign(dash, wanted or ["ranking"])
    body = bundle.cached_bundle(cache, engine, dash, wanted, offload)
    return Response(body, media_type="application/json")


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TABLE_TYPES: dict[int | str, dict[str, Any]] = {
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
    needs_campaign(dash, [name])
    rows, truncated = service.table_rows(dash, name, q=q, sentiment=sentiment)
    if format == "json":
        body = bundle.json_for_html({"rows": rows, "truncated": truncated})
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
        body_bytes = tables.to_xlsx(rows, title=name)
        media = XLSX
    else:
        body_bytes = tables.to_csv(rows)
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
    user: EvaluatorUser,
    dash: Annotated[Dashboard, Depends(report_dep)],
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    """A self-contained HTML report of the campaign: every chart (interactive, with plotly.js
    inside the file), the tables and the method; it opens offline and prints cleanly."""
    html = html_report.build(dash, generated_at=datetime.now(UTC), time_zone=settings.time_zone)
    campaign_id = dash.campaign_id
    audit.record(session, actor=user.username, action="report.export", target=str(campaign_id))
    return Response(
        html,
        media_type="text/html; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="minyi-report-{campaign_id}.html"'},
    )
