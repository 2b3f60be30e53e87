"""Validating dependencies of the dashboard routes: figure and table names, the filters,
the campaign, and the app's bundle cache."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, Query, Request
from sqlalchemy.engine import Engine

from analytics.dashboard.cache import StaleWhileRevalidate
from analytics.dashboard.options import FIGURE_NAMES, TABLE_NAMES, VOTE_FIGURES, DashFilters
from analytics.dashboard.service import Dashboard
from analytics.indicators import lookups
from analytics.indicators.params import MONTH_PATTERN
from service.auth import SettingsDep
from service.db import AnalyticsSessionDep, get_or_404
from service.errors import Invalid, NotFound
from service.offload import Offload
from surveys.forms.models import Campaign
from surveys.units.models import UnitKind

Lang = Literal["zh-CN", "en"]
Period = Literal["day", "week", "month"]
# Unit codes as units define them; search text without NUL (PostgreSQL cannot hold it).
CODE = r"^[A-Za-z0-9_.:-]*$"
NO_NUL = r"^[^\x00]*$"


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


def _check_unit(session: AnalyticsSessionDep, code: str | None, field: str) -> None:
    if code and lookups.unit_id(session, code) is None:
        raise Invalid.field(("query", field), f"unknown unit code '{code}'")


def _campaign(session: AnalyticsSessionDep, campaign_id: int | None) -> Campaign | None:
    if campaign_id is None:
        return None
    return get_or_404(session, Campaign, campaign_id, "Campaign")


class Options:
    """The filters, language and voting session of a dashboard request (validated)."""

    def __init__(
        self,
        session: AnalyticsSessionDep,
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

    def dashboard(self, session: AnalyticsSessionDep, campaign: Campaign | None) -> Dashboard:
        return Dashboard(
            session,
            campaign=campaign,
            filters=self.filters,
            lang=self.lang,
            min_group_size=self.k,
            voting_session_id=self.session_id,
        )


def dashboard_dep(
    session: AnalyticsSessionDep,
    options: Annotated[Options, Depends()],
    campaign_id: Annotated[int | None, Query(ge=1)] = None,
) -> Dashboard:
    """The dashboard of the query's campaign (404 when it does not exist) under the filters."""
    return options.dashboard(session, _campaign(session, campaign_id))


def report_dep(
    session: AnalyticsSessionDep, options: Annotated[Options, Depends()], campaign_id: int
) -> Dashboard:
    """The dashboard of the path's campaign (404 when it does not exist) under the filters."""
    return options.dashboard(session, _campaign(session, campaign_id))


DashboardDep = Annotated[Dashboard, Depends(dashboard_dep)]


def bundle_cache(request: Request) -> StaleWhileRevalidate:
    """The app's cache of dashboard bundles (built once when the app is made)."""
    cache: StaleWhileRevalidate = request.app.state.dashboard_cache
    return cache


def bundle_offload(request: Request) -> Offload | None:
    """The child process for the bundles' background refreshes (None: a thread)."""
    offload: Offload | None = request.app.state.dashboard_offload
    return offload


def app_engine(request: Request) -> Engine:
    """The analytics engine (a replica when configured): the cache computes bundles in
    sessions of their own."""
    engine: Engine = request.app.state.analytics_engine
    return engine


BundleCacheDep = Annotated[StaleWhileRevalidate, Depends(bundle_cache)]
EngineDep = Annotated[Engine, Depends(app_engine)]
OffloadDep = Annotated[Offload | None, Depends(bundle_offload)]


def needs_campaign(dash: Dashboard, names: list[str]) -> None:
    """422 when a figure of the campaign is asked for without one."""
    if dash.campaign is None and any(n not in VOTE_FIGURES for n in names):
        raise Invalid.field(("query", "campaign_id"), "Field required")
