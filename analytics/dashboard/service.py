"""What the dashboard shows: rows from the analytics and voting services, and their figures.

A thin layer with no SQL and no statistics of its own. The numbers come from
``analytics.indicators`` (indicators, ranking, trends, sentiment), ``analytics.comments``
(themes, the comment list) and ``surveys.voting`` (results): ``rows``, ``comments`` and
``votes`` ask them for what a view needs under the dashboard's filters, and this module
labels those rows for one language and hands them to the pure functions of
``analytics.figures``. Rows are computed once per request and shared.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import plotly.graph_objects as go
from markupsafe import Markup

from analytics import figures
from analytics.dashboard.bundle import json_for_html
from analytics.dashboard.comments import CommentRows
from analytics.dashboard.options import SURVEY_FIGURES, VOTE_FIGURES
from analytics.dashboard.votes import VoteRows
from analytics.figures.aspects import aspect_shares, aspect_trends
from analytics.indicators import lookups
from service.errors import NotFound


class Dashboard(CommentRows, VoteRows):
    """Rows, figures and headline numbers of one campaign (and voting session) under filters."""

    def default_figures(self) -> list[str]:
        """The figures this dashboard can show: the campaign's, and the vote's if any."""
        names = list(SURVEY_FIGURES) if self.campaign is not None else []
        return names + (list(VOTE_FIGURES) if self.has_vote() else [])

    def rows(self, name: str) -> list[dict[str, Any]]:
        """The table behind a figure (or the comment list), as flat rows."""
        if name == "responses":
            return self.response_rows
        if name == "ranking":
            return self.ranking_rows
        if name == "heatmap":
            return self.unit_dimension_rows
        if name == "profile":
            return self.profile_rows()
        if name == "trends":
            return self.trend_rows
        if name == "breakdown_area":
            return self.breakdown_area_rows()
        if name == "breakdown_profile":
            return self.breakdown_profile_rows()
        if name == "distribution":
            return self.distribution_rows
        if name == "difference":
            return self.difference_rows
        if name == "reliability":
            return self.reliability_rows
        if name == "sensitivity":
            return self.sensitivity_rows
        if name == "sentiment":
            return self.sentiment_rows()
        if name == "themes":
            return self.theme_rows()
        if name == "aspects":
            return self.aspect_result["rows"]
        if name == "aspect_trends":
            return self.aspect_result["months"]
        if name == "comments":
            return self.comment_rows()[0]
        if name == "vote":
            return [p.model_dump(mode="json") for p in self.vote_results().projects]
        if name == "tracker":
            return self.tracker_rows()
        raise NotFound(f"Unknown table '{name}'")

    def figure(self, name: str) -> go.Figure:
        """The figure called name, built from its rows."""
        lang, names, k = self.lang, self.names, self.k
        if name == "responses":
            return figures.response_trend(self.response_rows, lang=lang, min_group_size=k)
        if name == "ranking":
            return figures.ranking(self.ranking_rows, lang=lang, names=names, min_group_size=k)
        if name == "heatmap":
            order = [r["unit_code"] for r in self.ranking_rows]
            return figures.heatmap(
                self.unit_dimension_rows,
                lang=lang,
                names=names,
                dimensions=self.dimensions,
                unit_order=order,
                min_group_size=k,
            )
        if name == "profile":
            unit = self.profile_unit
            return figures.profile(
                self.profile_rows(),
                self.district_dimension_rows,
                unit_code=unit or "",
                lang=lang,
                names=names,
                dimensions=self.dimensions,
                min_group_size=k,
            )
        if name == "trends":
            unit = self.filters.unit_code
            subject = names.get(unit, unit) if unit else figures.label(lang, "district")
            return figures.trends(
                self.trend_rows,
                lang=lang,
                names=names,
                dimensions=self.dimensions,
                subject=subject,
            )
        if name == "breakdown_area":
            return figures.breakdown(
                self.breakdown_area_rows(),
                by=("area_code",),
                lang=lang,
                names=names,
                min_group_size=k,
            )
        if name == "breakdown_profile":
            return figures.breakdown(
                self.breakdown_profile_rows(), by=("age_band", "sex"), lang=lang, min_group_size=k
            )
        if name == "distribution":
            return figures.distribution(
                self.distribution_rows,
                lang=lang,
                names=names,
                question_labels=self.question_labels,
                unit_code=self.filters.unit_code or None,
                min_group_size=k,
            )
        if name == "difference":
            unit = self.profile_unit
            pair = f"{names.get(unit, unit)} – {figures.label(lang, 'district')}" if unit else None
            return figures.difference_figure(
                self.difference_rows, lang=lang, dimensions=self.dimensions, subject=pair
            )
        if name == "reliability":
            return figures.reliability(self.reliability_rows, lang=lang, dimensions=self.dimensions)
        if name == "sensitivity":
            return figures.sensitivity(self.sensitivity_rows, lang=lang, names=names)
        if name == "sentiment":
            rows = self.sentiment_rows()
            return figures.sentiment(
                rows,
                lang=lang,
                names=names,
                min_group_size=k,
                empty=None if rows else self.comments_empty_reason(),
            )
        if name == "themes":
            rows = self.theme_rows()
            return figures.themes(
                rows,
                lang=lang,
                names=names,
                unit_code=self.filters.unit_code,
                empty=figures.label(lang, "themes_no_negative")
                if rows
                else self.comments_empty_reason(),
            )
        if name in ("aspects", "aspect_trends"):
            res = self.aspect_result
            why = self.comments_empty_reason(aspects=True)
            if name == "aspects":
                return aspect_shares(
                    res["rows"],
                    lang=lang,
                    dimensions=self.aspect_names,
                    min_group_size=k,
                    empty=why,
                )
            return aspect_trends(
                res["months"], res["changes"], lang=lang, dimensions=self.aspect_names, empty=why
            )
        if name == "vote":
            return figures.vote(self.vote_results(), lang=lang)
        if name == "tracker":
            return figures.tracker(self.tracker_rows(), lang=lang)
        raise NotFound(f"Unknown figure '{name}'")


def table_rows(
    dash: Dashboard, name: str, *, q: str | None = None, sentiment: str | None = None
) -> tuple[list[dict[str, Any]], bool]:
    """The rows of a table and whether the list was cut (only the comment list is)."""
    if name == "comments":
        return dash.comment_rows(q=q, sentiment=sentiment)
    return dash.rows(name), False


def method_text(dash: Dashboard) -> str:
    """The methods and parameters behind the dashboard's numbers, as readable JSON."""
    return json.dumps(dash.methods, ensure_ascii=False, indent=1, sort_keys=True, default=str)


def page_context(
    dash: Dashboard, *, campaigns: list[dict[str, Any]], strings: dict[str, str]
) -> dict[str, Any]:
    """What the dashboard page renders: the menus, and a JSON block telling the page script
    which bundle to fetch. The figures are not computed here: the page is sent at once and
    the browser fetches the bundle (preloaded from the head) while it loads plotly.js."""
    campaign = dash.campaign
    names = dash.default_figures()
    options = (
        lookups.filter_options(dash.session, campaign=campaign, lang=dash.lang)
        if campaign is not None
        else {"areas": [], "kinds": []}
    )
    f = dash.filters
    chosen = dash.voting_session if names and names[-1] in VOTE_FIGURES else None
    session_id = chosen.id if chosen is not None else None
    params: dict[str, Any] = {
        "campaign_id": campaign.id if campaign is not None else None,
        "period": f.period,
        "area": f.area,
        "unit_kind": f.unit_kind,
        "weighted": "true" if f.weighted else None,
        "include_flagged": "true" if f.include_flagged else None,
        "unit_code": f.unit_code,
        "month": f.month,
        "session_id": session_id,
        "lang": dash.lang,
    }
    query = urlencode({k: v for k, v in params.items() if v is not None})
    bundle_url = f"/api/v1/dashboard?{query}" if names else None
    boot = {
        "campaign_id": params["campaign_id"],
        "session_id": session_id,
        "lang": dash.lang,
        "bundle_url": bundle_url,
        "figures": names,
        "filters": {
            "period": f.period,
            "area": f.area or "",
            "unit_kind": f.unit_kind or "",
            "weighted": f.weighted,
            "include_flagged": f.include_flagged,
            "unit_code": f.unit_code or "",
            "month": f.month or "",
        },
        "strings": strings,
    }
    return {
        "campaigns": campaigns,
        "campaign": campaign,
        "filters": f,
        "areas": options["areas"],
        "kinds": options["kinds"],
        "voting_sessions": dash.voting_sessions(),
        "voting_session_id": session_id,
        "bundle_url": bundle_url,
        "boot_json": Markup(json_for_html(boot)),
    }
