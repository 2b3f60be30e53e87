"""What the dashboard shows: rows from the analytics and voting services, and their figures.

A thin layer. The statistics live in ``analytics.indicators`` (indicators, ranking, trends),
``analytics.text`` (comment themes) and ``surveys.voting`` (results); this module asks them
for the rows a view needs under the dashboard's filters, labels them for one language and
hands them to the pure functions of ``analytics.figures``. Rows are computed once per
request and shared (the heatmap and the profile read the same table).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import urlencode

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from markupsafe import Markup
from plotly.utils import PlotlyJSONEncoder
from scipy import stats as sps
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from analytics import figures, indicators, text
from analytics.dashboard_cache import StaleWhileRevalidate
from analytics.models import CommentScanMark, CommentSentiment
from service.db import utcnow
from service.errors import Invalid, NotFound
from surveys.forms.models import Campaign, CampaignUnit, Question, SurveyResponse
from surveys.forms.stats import RESPONSE_KEY, StatUnit
from surveys.units.models import AREA_KINDS, Unit, UnitKind
from surveys.voting import service as voting
from surveys.voting.models import (
    Ballot,
    ProjectStatus,
    ProjectUpdate,
    SessionKind,
    SessionState,
    VotingSession,
)

PERIODS = ("day", "week", "month")
SURVEY_FIGURES = (
    "responses",
    "ranking",
    "heatmap",
    "profile",
    "trends",
    "breakdown_area",
    "breakdown_profile",
    "sentiment",
    "themes",
)
VOTE_FIGURES = ("vote", "tracker")
FIGURE_NAMES = SURVEY_FIGURES + VOTE_FIGURES
TABLE_NAMES = FIGURE_NAMES + ("comments",)
COMMENT_LIMIT = 200
# Themes are read from a unit's most recent comments, so a view stays fast on big campaigns.
THEME_COMMENTS = 1000
Z = 1.959963984540054
RANK_DRAWS = 4000

# Display names of common dimension keys; others show their question's label or the key.
DIMENSION_NAMES = {
    "attitude": ("服务态度", "Attitude"),
    "efficiency": ("办事效率", "Efficiency"),
    "integrity": ("廉洁自律", "Integrity"),
    "results": ("为民实绩", "Results"),
    "transparency": ("公开透明", "Transparency"),
    "accessibility": ("便民程度", "Accessibility"),
    "responsiveness": ("回应速度", "Responsiveness"),
    "professionalism": ("业务能力", "Competence"),
    "environment": ("环境秩序", "Environment"),
    "nps": ("推荐意愿", "Recommendation"),
}


@dataclass(frozen=True)
class DashFilters:
    """The dashboard's filters, as given in the query string."""

    period: str = "month"
    area: str | None = None
    unit_kind: str | None = None
    weighted: bool = False
    include_flagged: bool = False
    unit_code: str | None = None
    # One calendar month (YYYY-MM, UTC), shown as the rows of the monthly tables; None: all.
    month: str | None = None


def _fmt(v: float | None, digits: int = 1) -> str:
    return "—" if v is None else f"{v:,.{digits}f}"


class Dashboard:
    """Rows, figures and headline numbers of one campaign (and voting session) under filters."""

    def __init__(
        self,
        session: Session,
        *,
        campaign: Campaign | None,
        filters: DashFilters | None = None,
        lang: str = "zh-CN",
        min_group_size: int = 5,
        voting_session_id: int | None = None,
    ) -> None:
        self.session = session
        self.campaign = campaign
        self.filters = filters or DashFilters()
        self.lang = lang
        self.k = min_group_size
        self.voting_session_id = voting_session_id
        # The method and parameters each computation reported, for the report's appendix.
        self.methods: dict[str, Any] = {}
        self._computed: dict[tuple[Any, ...], list[dict[str, Any]]] = {}

    # --- lookups --------------------------------------------------------------------------

    @property
    def campaign_id(self) -> int:
        if self.campaign is None or self.campaign.id is None:
            raise Invalid.field(("query", "campaign_id"), "Field required")
        return int(self.campaign.id)

    @cached_property
    def units(self) -> dict[str, tuple[str, str, str]]:
        """(name, name_en, kind) of every unit, by code."""
        rows = self.session.execute(select(Unit.code, Unit.name, Unit.name_en, Unit.kind)).all()
        return {r[0]: (r[1], r[2] or "", str(r[3])) for r in rows}

    @cached_property
    def names(self) -> dict[str, str]:
        """Unit display names in the dashboard's language."""
        en = self.lang == "en"
        return {code: (ne if en and ne else n) for code, (n, ne, _k) in self.units.items()}

    @cached_property
    def dimensions(self) -> dict[str, str]:
        """Display names of the campaign's rated dimensions, in question order."""
        qs = self.session.execute(
            select(Question)
            .where(
                Question.survey_id == self.campaign.survey_id,  # type: ignore[union-attr]
                col(Question.type).in_(("rating", "nps")),
            )
            .order_by(Question.position)
        ).scalars()
        out: dict[str, str] = {}
        en = self.lang == "en"
        for q in qs:
            dim = q.dimension or ("nps" if q.type == "nps" else q.key)
            if dim in out:
                continue
            known = DIMENSION_NAMES.get(dim)
            if known:
                out[dim] = known[1] if en else known[0]
            else:
                text = (q.label_en if en and q.label_en else q.label) or dim
                out[dim] = text if len(text) <= 16 else text[:15] + "…"
        return out

    def _kind_ok(self, code: str | None) -> bool:
        kind = self.filters.unit_kind
        return not kind or (code is not None and self.units.get(code, ("", "", ""))[2] == kind)

    def _compute(self, by: Sequence[str], **kw: Any) -> list[dict[str, Any]]:
        """Indicator rows under the filters; each distinct query runs once per dashboard
        (the headline and the area breakdown, for one, ask the same question)."""
        kw = {k: v for k, v in kw.items() if v is not None}
        key = (tuple(by), tuple(sorted(kw.items())))
        if key in self._computed:
            return self._computed[key]
        f = self.filters
        res = indicators.compute(
            self.session,
            campaign_id=self.campaign_id,
            by=list(by),
            weighted=f.weighted,
            include_flagged=f.include_flagged,
            min_group_size=self.k,
            area_code=f.area or None,
            month=f.month,
            **kw,
        )
        self.methods[",".join(by) or "overall"] = res.method
        self._computed[key] = res.rows
        return res.rows

    # --- survey rows ----------------------------------------------------------------------

    @cached_property
    def overall(self) -> dict[str, Any]:
        """The campaign's pooled score over every rating, with its interval."""
        rows = self._compute([])
        return rows[0] if rows else {"n": 0, "suppressed": True}

    @cached_property
    def unit_dimension_rows(self) -> list[dict[str, Any]]:
        """Indicators by unit and dimension (heatmap, profile), unit kind filter applied."""
        return [r for r in self._compute(["unit", "dimension"]) if self._kind_ok(r["unit_code"])]

    @cached_property
    def district_dimension_rows(self) -> list[dict[str, Any]]:
        return self._compute(["dimension"])

    @cached_property
    def ranking_rows(self) -> list[dict[str, Any]]:
        """The composite index ranking; re-ranked within the chosen unit kind."""
        f = self.filters
        if f.area or f.month:
            rows = self._filtered_ranking()
        else:
            res = indicators.ranking(
                self.session,
                campaign_id=self.campaign_id,
                weighted=f.weighted,
                include_flagged=f.include_flagged,
                min_group_size=self.k,
            )
            self.methods["ranking"] = res.method
            rows = res.rows
        if f.unit_kind:
            rows = rerank([r for r in rows if self._kind_ok(r["unit_code"])])
        return rows

    def _filtered_ranking(self) -> list[dict[str, Any]]:
        # The composite of indicators.ranking, over the respondents of one area or month: the
        # weighted mean of shrunk dimension scores, with the same conservative interval.
        weights_in = self.campaign.dimension_weights or {}  # type: ignore[union-attr]
        rows = self._compute(["unit", "dimension"])
        dims = sorted({r["dimension"] for r in rows if r["dimension"] != "nps"})
        wts = {d: float(weights_in.get(d, 1.0)) for d in dims}
        used = [d for d in dims if wts[d] > 0]
        per_unit: dict[str, dict[str, dict[str, Any]]] = {}
        for r in rows:
            if r["dimension"] in used:
                per_unit.setdefault(r["unit_code"], {})[r["dimension"]] = r
        out: list[dict[str, Any]] = []
        wsum = sum(wts[d] for d in used) or 1.0
        for code, by_dim in per_unit.items():
            if any(d not in by_dim or by_dim[d]["suppressed"] for d in used):
                out.append({"unit_code": code, "suppressed": True})
                continue
            idx = sum(wts[d] * by_dim[d]["shrunk_score"] for d in used) / wsum
            half = (
                sum(
                    wts[d] * (by_dim[d]["shrunk_ci_high"] - by_dim[d]["shrunk_ci_low"]) / 2
                    for d in used
                )
                / wsum
            )
            out.append(
                {
                    "unit_code": code,
                    "n": min(by_dim[d]["n"] for d in used),
                    "index": round(idx, 4),
                    "ci_low": round(idx - half, 4),
                    "ci_high": round(idx + half, 4),
                    "suppressed": False,
                }
            )
        return rerank(out)

    @cached_property
    def profile_unit(self) -> str | None:
        """The unit whose profile is shown: the chosen one, else the top of the ranking."""
        if self.filters.unit_code:
            return self.filters.unit_code
        for r in self.ranking_rows:
            if not r.get("suppressed"):
                return str(r["unit_code"])
        return None

    def profile_rows(self) -> list[dict[str, Any]]:
        unit = self.profile_unit
        mine = [r for r in self.unit_dimension_rows if r["unit_code"] == unit]
        if not mine and unit:
            # A unit outside the kind filter keeps its profile.
            mine = self._compute(["dimension"], unit_code=unit)
            mine = [{**r, "unit_code": unit} for r in mine]
        return mine

    @cached_property
    def trend_rows(self) -> list[dict[str, Any]]:
        """Scores per dimension and period (of the chosen unit, else the district), each row
        flagged ``significant`` when its change from the previous period exceeds the noise."""
        f = self.filters
        unit = f.unit_code
        if unit and not f.area:
            res = indicators.trends(
                self.session,
                campaign_id=self.campaign_id,
                period=f.period,
                weighted=f.weighted,
                include_flagged=f.include_flagged,
                min_group_size=self.k,
                month=f.month,
            )
            rows = [dict(r) for r in res.rows if r["unit_code"] == unit]
            changes = {
                (c["dimension"], c["to"]): c
                for c in res.method.get("changes", [])
                if c["unit_code"] == unit and not c.get("suppressed")
            }
            for r in rows:
                c = changes.get((r["dimension"], r["period"]))
                if c:
                    r.update(significant=bool(c.get("alert")), change=c.get("change"))
            return sorted(rows, key=lambda r: (r["dimension"], r["period"]))
        rows = self._compute(["dimension"], period=f.period, unit_code=unit or None)
        return mark_changes(rows)

    @cached_property
    def response_rows(self) -> list[dict[str, Any]]:
        rows = self._compute([], period=self.filters.period)
        return [{"period": r["period"], "n": r["n"], "suppressed": r["suppressed"]} for r in rows]

    def breakdown_area_rows(self) -> list[dict[str, Any]]:
        return self._compute(["area"], unit_code=self.filters.unit_code or None)

    def breakdown_profile_rows(self) -> list[dict[str, Any]]:
        return self._compute(["age_band", "sex"], unit_code=self.filters.unit_code or None)

    # --- comments -------------------------------------------------------------------------

    @cached_property
    def commentable_units(self) -> dict[int, str]:
        """Units whose respondents (under the filters) are numerous enough to show comments."""
        rows = self._compute(["unit"])
        codes = {
            r["unit_code"]
            for r in rows
            if not r["suppressed"] and (r["n"] or 0) >= self.k and self._kind_ok(r["unit_code"])
        }
        if not codes:
            return {}
        ids = self.session.execute(
            select(Unit.id, Unit.code).where(col(Unit.code).in_(codes))
        ).all()
        return {int(i): c for i, c in ids}

    def _comment_conditions(self, unit_ids: Sequence[int]) -> list[Any]:
        r = SurveyResponse
        f = self.filters
        conds: list[Any] = [
            r.campaign_id == self.campaign_id,
            r.comment.is_not(None),
            r.comment != "",
            col(r.unit_id).in_(list(unit_ids)),
        ]
        if not f.include_flagged:
            conds.append(col(r.flagged).is_(False))
        if f.area:
            area_id = self.session.execute(select(Unit.id).where(Unit.code == f.area)).scalar()
            conds.append(r.area_unit_id == area_id)
        return conds

    def sentiment_rows(self) -> list[dict[str, Any]]:
        """Share of positive / neutral / negative comments per unit, with the negative share's
        Wilson interval; units with fewer than k commenting respondents are suppressed."""
        allowed = self.commentable_units
        counts: dict[str, dict[str, int]] = {}
        if allowed:
            r = SurveyResponse
            conds = self._comment_conditions(list(allowed))
            # "+ 0": read the scored comments and look each response up by its key, rather
            # than every response of the campaign through the campaign index (5x faster on
            # SQLite with a million responses; PostgreSQL plans a hash join either way).
            conds[0] = (r.campaign_id + 0) == self.campaign_id
            stmt = (
                select(r.unit_id, CommentSentiment.label, func.count())
                .select_from(CommentSentiment)
                .join(r, CommentSentiment.response_id == r.id)  # type: ignore[arg-type]
                .where(*conds)
                .group_by(r.unit_id, CommentSentiment.label)
            )
            for uid, lab, n in self.session.execute(stmt).all():
                counts.setdefault(allowed[int(uid)], {})[str(lab)] = int(n)
        out: list[dict[str, Any]] = []
        for code, by_label in sorted(counts.items()):
            n = sum(by_label.values())
            if n < self.k:
                out.append({"unit_code": code, "n": None, "suppressed": True})
                continue
            neg = by_label.get("negative", 0) / n
            lo, hi = indicators.wilson(neg, n)
            out.append(
                {
                    "unit_code": code,
                    "n": n,
                    "positive": round(by_label.get("positive", 0) / n, 4),
                    "neutral": round(by_label.get("neutral", 0) / n, 4),
                    "negative": round(neg, 4),
                    "negative_ci_low": round(lo, 4),
                    "negative_ci_high": round(hi, 4),
                    "suppressed": False,
                }
            )
        return out

    def theme_rows(self) -> list[dict[str, Any]]:
        """The most negative themes of the profiled unit's comments (``analytics.text``)."""
        unit = self.profile_unit
        if unit is None:
            return []
        f = self.filters
        res = text.themes(
            self.session,
            campaign_id=self.campaign_id,
            by="unit",
            unit_code=unit,
            area_code=f.area or None,
            include_flagged=f.include_flagged,
            min_group_size=self.k,
            max_comments=THEME_COMMENTS,
        )
        self.methods["themes"] = res.get("method")
        return [
            {
                "unit_code": g.get("unit_code"),
                "theme": t["keyword"],
                "count": t["comments"],
                "negative": t["negative"],
                "negative_share": t["negative_share"],
                "negative_ci_low": t.get("negative_ci_low"),
                "negative_ci_high": t.get("negative_ci_high"),
            }
            for g in res.get("groups", [])
            for t in g.get("themes", [])
        ]

    def comment_rows(
        self, *, q: str | None = None, sentiment: str | None = None
    ) -> tuple[list[dict[str, Any]], bool]:
        """Comments (newest first) from groups with enough respondents (``analytics.text``);
        True when more matched than are listed."""
        f = self.filters
        page = text.list_comments(
            self.session,
            campaign_id=self.campaign_id,
            unit_code=f.unit_code or None,
            area_code=f.area or None,
            sentiment=sentiment or None,
            q=q or None,
            include_flagged=f.include_flagged,
            min_group_size=self.k,
            limit=COMMENT_LIMIT,
            count=False,
        )
        rows = [
            {
                "unit_code": r["unit_code"],
                "unit": self.names.get(r["unit_code"], r["unit_code"]),
                "month": r.get("month"),
                "sentiment": r.get("sentiment"),
                "sentiment_label": figures.label(self.lang, r["sentiment"])
                if r.get("sentiment")
                else "",
                "comment": r.get("text"),
            }
            for r in page.rows
        ]
        return rows, page.more

    # --- the vote -------------------------------------------------------------------------

    @cached_property
    def voting_session(self) -> VotingSession | None:
        """The chosen published selection session, else the latest one (None when none)."""
        if self.voting_session_id is None:
            found = voting.list_sessions(self.session, states=[SessionState.published])
            chosen = [vs for vs in found if vs.kind == SessionKind.selection]
            return chosen[0] if chosen else None
        vs = self.session.get(VotingSession, self.voting_session_id)
        if vs is None or vs.state != SessionState.published or vs.kind != SessionKind.selection:
            raise NotFound("No published selection session with this id")
        return vs

    def vote_results(self) -> dict[str, Any]:
        """The published results of the voting session (the voting contract's shape)."""
        vs = self.voting_session
        if vs is None:
            raise NotFound("No published voting session")
        res = voting.results(self.session, vs=vs, user=None)
        if self.lang == "en" and res.get("rule_en"):
            res = {**res, "rule": res["rule_en"]}
        return res

    def tracker_rows(self) -> list[dict[str, Any]]:
        """Progress of the session's selected projects, with the latest update."""
        selected = {p["project_id"] for p in self.vote_results()["projects"] if p["selected"]}
        projects = voting.list_projects(
            self.session, statuses=list(voting.IMPLEMENTATION), with_updates=True
        )
        rows = []
        for p in projects:
            if p.id not in selected:
                continue
            last = p.updates[0] if p.updates else None
            rows.append(
                {
                    "project_id": p.id,
                    "title": p.title,
                    "title_en": p.title_en,
                    "status": ProjectStatus(p.status).value,
                    "budget": p.budget,
                    "percent_done": p.percent_done,
                    "updated_on": last.date.isoformat() if last else "",
                    "note": last.note if last else "",
                }
            )
        return rows

    # --- public ---------------------------------------------------------------------------

    def voting_sessions(self) -> list[dict[str, Any]]:
        """Published selection sessions for the picker, newest first."""
        en = self.lang == "en"
        return [
            {"id": vs.id, "title": (vs.title_en if en and vs.title_en else vs.title)}
            for vs in voting.list_sessions(self.session, states=[SessionState.published])
            if vs.kind == SessionKind.selection
        ]

    def has_vote(self) -> bool:
        """True when there is a published voting session to show."""
        return bool(self.voting_sessions())

    def default_figures(self) -> list[str]:
        """The figures this dashboard can show: the campaign's, and the vote's if any."""
        names = list(SURVEY_FIGURES) if self.campaign is not None else []
        return names + (list(VOTE_FIGURES) if self.has_vote() else [])

    def headline(self) -> dict[str, Any]:
        """Responses, respondents' areas, units rated and the overall score with its interval."""
        o = self.overall
        areas = [r for r in self._compute(["area"]) if r.get("area_code")]
        units = [r for r in self.ranking_rows if not r.get("suppressed")]
        score = None if o.get("suppressed") else o.get("score")
        lo = None if o.get("suppressed") else o.get("score_ci_low")
        hi = None if o.get("suppressed") else o.get("score_ci_high")
        interval = (
            figures.label(self.lang, "interval") + f" {_fmt(lo)} – {_fmt(hi)}"
            if lo is not None and hi is not None
            else ""
        )
        return {
            "responses": o.get("n"),
            "responses_text": _fmt(o.get("n"), 0) if o.get("n") is not None else "—",
            "areas": len(areas),
            "areas_text": str(len(areas)),
            "units": len(units),
            "units_text": str(len(units)),
            "overall": score,
            "overall_low": lo,
            "overall_high": hi,
            "overall_text": _fmt(score),
            "interval_text": interval,
        }

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
        if name == "sentiment":
            return self.sentiment_rows()
        if name == "themes":
            return self.theme_rows()
        if name == "comments":
            return self.comment_rows()[0]
        if name == "vote":
            return list(self.vote_results().get("projects", []))
        if name == "tracker":
            return self.tracker_rows()
        raise NotFound(f"Unknown table '{name}'")

    def figure(self, name: str) -> go.Figure:
        """The figure called name, built from its rows."""
        lang, names, k = self.lang, self.names, self.k
        if name == "responses":
            return figures.response_trend(self.response_rows, lang=lang)
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
        if name == "sentiment":
            return figures.sentiment(
                self.sentiment_rows(), lang=lang, names=names, min_group_size=k
            )
        if name == "themes":
            return figures.themes(
                self.theme_rows(), lang=lang, names=names, unit_code=self.profile_unit
            )
        if name == "vote":
            return figures.vote(self.vote_results(), lang=lang)
        if name == "tracker":
            return figures.tracker(self.tracker_rows(), lang=lang)
        raise NotFound(f"Unknown figure '{name}'")


# --- helpers shared with the report --------------------------------------------------------


def rerank(rows: list[dict[str, Any]], *, seed: int = 20261125) -> list[dict[str, Any]]:
    """Ranks and plausible rank ranges among the given units, as ``indicators.ranking`` does
    them: 2.5% and 97.5% quantiles of each unit's rank over normal draws of all indices."""
    shown = [r for r in rows if not r.get("suppressed") and r.get("index") is not None]
    hidden = [r for r in rows if r not in shown]
    if not shown:
        return hidden
    est = np.array([float(r["index"]) for r in shown])
    se = np.array([max(float(r["ci_high"]) - float(r["ci_low"]), 0.0) / (2 * Z) for r in shown])
    order = np.argsort(-est, kind="stable")
    rank = np.empty(len(shown), dtype=int)
    rank[order] = np.arange(1, len(shown) + 1)
    rng = np.random.default_rng(seed)
    draws = est[None, :] + rng.standard_normal((RANK_DRAWS, len(shown))) * se[None, :]
    ranks = (-draws).argsort(axis=1).argsort(axis=1) + 1
    r_lo = np.quantile(ranks, 0.025, axis=0, method="inverted_cdf")
    r_hi = np.quantile(ranks, 0.975, axis=0, method="inverted_cdf")
    out = []
    for j in order:
        out.append(
            {
                **shown[j],
                "rank": int(rank[j]),
                "rank_low": int(min(r_lo[j], rank[j])),
                "rank_high": int(max(r_hi[j], rank[j])),
            }
        )
    return out + hidden


def mark_changes(rows: list[dict[str, Any]], *, alpha: float = 0.05) -> list[dict[str, Any]]:
    """Flag each period's change from the previous one when a two-sided z test, corrected
    for the false discovery rate (Benjamini-Hochberg) over the figure's changes, rejects
    "no change" (the test ``indicators.trends`` applies to units)."""
    series: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        series.setdefault(str(r.get("dimension") or ""), []).append(dict(r))
    tested: list[tuple[dict[str, Any], float, float]] = []
    for items in series.values():
        items.sort(key=lambda r: str(r["period"]))
        for a, b in zip(items, items[1:], strict=False):
            if a["suppressed"] or b["suppressed"]:
                continue
            se = math.sqrt(_se(a) ** 2 + _se(b) ** 2)
            diff = float(b["score"]) - float(a["score"])
            z = diff / se if se > 0 else 0.0
            tested.append((b, diff, float(2 * sps.norm.sf(abs(z)))))
    if tested:
        q = indicators.benjamini_hochberg(np.array([p for _b, _d, p in tested]))
        for (b, diff, _p), qv in zip(tested, q, strict=True):
            b.update(significant=bool(qv < alpha), change=round(diff, 4))
    return [r for items in series.values() for r in items]


def _se(row: dict[str, Any]) -> float:
    df = max(float(row.get("n_eff") or row.get("n") or 2) - 1, 1.0)
    t = float(sps.t.ppf(0.975, df))
    return (float(row["score_ci_high"]) - float(row["score_ci_low"])) / 2 / t


def campaign_choices(session: Session, *, lang: str) -> list[dict[str, Any]]:
    """Campaigns for the picker, newest first."""
    rows = session.execute(
        select(Campaign.id, Campaign.title, Campaign.title_en).order_by(Campaign.id.desc())
    ).all()
    return [{"id": int(i), "title": (te if lang == "en" and te else t)} for i, t, te in rows]


def filter_options(session: Session, *, campaign: Campaign, lang: str) -> dict[str, Any]:
    """The district's areas (streets and communities) and the kinds of the rated units, for
    the filter menus. Areas come from the unit tree, not from the responses, so the page
    never waits for a scan of a large campaign."""
    areas = session.execute(
        select(Unit.code, Unit.name, Unit.name_en)
        .where(col(Unit.kind).in_([k.value for k in AREA_KINDS if k != UnitKind.district]))
        .order_by(Unit.code)
    ).all()
    kinds = session.execute(
        select(Unit.kind)
        .join(CampaignUnit, CampaignUnit.unit_id == Unit.id)  # type: ignore[arg-type]
        .where(CampaignUnit.campaign_id == campaign.id)
        .distinct()
    ).scalars()
    return {
        "areas": [
            {"code": code, "name": (ne if lang == "en" and ne else n)} for code, n, ne in areas
        ],
        "kinds": sorted(str(k) for k in kinds),
    }


# --- serialisation -------------------------------------------------------------------------


def json_for_html(obj: Any) -> str:
    """JSON that is also safe inside an HTML ``<script type="application/json">`` block."""
    text = json.dumps(obj, cls=PlotlyJSONEncoder, ensure_ascii=False, separators=(",", ":"))
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(ch, esc)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def figure_json(dash: Dashboard, name: str) -> str:
    """One figure as Plotly JSON (HTML-safe)."""
    return pio.to_json(dash.figure(name), validate=False)


def bundle_json(dash: Dashboard, names: Sequence[str]) -> str:
    """``{"headline": ..., "figures": {name: figure}, "computed_at": ...}`` as one HTML-safe
    JSON document."""
    parts = [f"{json_for_html(n)}:{figure_json(dash, n)}" for n in names]
    head = json_for_html(dash.headline()) if dash.campaign is not None else "null"
    at = json_for_html(utcnow().isoformat(timespec="seconds"))
    return '{"headline":' + head + ',"figures":{' + ",".join(parts) + '},"computed_at":' + at + "}"


def cached_bundle(
    cache: StaleWhileRevalidate, engine: Engine, dash: Dashboard, names: Sequence[str]
) -> str:
    """The bundle through the stale-while-revalidate cache. It is computed in a session of
    its own, so that the cache can also compute it in the background."""
    wanted = list(names) or dash.default_figures()
    f = dash.filters
    campaign_id = dash.campaign.id if dash.campaign is not None else None
    key = (campaign_id, f, dash.lang, dash.k, dash.voting_session_id, tuple(wanted))

    def compute() -> str:
        with Session(engine) as s:
            campaign = s.get(Campaign, campaign_id) if campaign_id is not None else None
            fresh = Dashboard(
                s,
                campaign=campaign,
                filters=f,
                lang=dash.lang,
                min_group_size=dash.k,
                voting_session_id=dash.voting_session_id,
            )
            body = bundle_json(fresh, wanted)
            s.commit()  # comments scored on the way are kept
        return body

    return cache.get(key, compute, version=lambda: inputs_version(engine, campaign_id))


def inputs_version(engine: Engine, campaign_id: int | None) -> tuple[Any, ...]:
    """What changes a bundle most often, read in one cheap statement: the campaign's number
    of responses (``stat_unit``, kept in the responses' own transaction), how far its comments
    are scored and when that mark last moved (comments scored again by ``minyi analytics
    rebuild --rescore`` end at the same place, later), and the number of ballots and project
    updates. Anything else (a renamed unit, an edited project) shows once the cached bundle is
    ``quiet`` seconds old."""
    su, mark = StatUnit.__table__.c, CommentScanMark.__table__.c  # type: ignore[attr-defined]
    parts = (
        select(func.coalesce(func.sum(su.n), 0)).where(
            su.campaign_id == campaign_id, su.question_key == RESPONSE_KEY
        ),
        select(func.max(mark.response_id)).where(mark.campaign_id == campaign_id),
        select(func.max(mark.responses)).where(mark.campaign_id == campaign_id),
        select(func.max(mark.updated_at)).where(mark.campaign_id == campaign_id),
        select(func.count()).select_from(Ballot),
        select(func.count()).select_from(ProjectUpdate),
    )
    with engine.connect() as conn:
        return tuple(conn.execute(select(*(p.scalar_subquery() for p in parts))).one())


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
        filter_options(dash.session, campaign=campaign, lang=dash.lang)
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
