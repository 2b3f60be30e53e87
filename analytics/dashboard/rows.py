"""The survey rows of a dashboard: what the indicator services answer under its filters.

Every number comes from ``analytics.indicators``: the ranking from ``ranking`` and the trend
lines from ``trends`` (the functions behind ``GET .../ranking`` and ``.../trends``, called
with the same filters), every other table from ``compute``. Here they are only asked for,
shared between figures (the heatmap and the profile read the same table) and labelled.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

from sqlmodel import Session

from analytics import figures, indicators
from analytics.dashboard.options import DIMENSION_NAMES, DashFilters
from analytics.indicators import lookups
from analytics.indicators.difference import DISTRICT, difference
from analytics.indicators.distribution import distribution
from analytics.indicators.reliability import reliability
from analytics.indicators.sensitivity import sensitivity
from service.errors import Invalid
from surveys.forms.models import Campaign
from surveys.forms.response_rate import response_rate


def _fmt(v: float | None, digits: int = 1) -> str:
    return "—" if v is None else f"{v:,.{digits}f}"


def with_changes(rows: list[dict[str, Any]], changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Trend rows, each tested change attached to the row it leads to: ``significant`` (the
    change's alert) and ``change``, for the figure to mark."""
    tested = {(c.get("dimension"), c["to"]): c for c in changes if not c.get("suppressed")}
    out = []
    for r in rows:
        c = tested.get((r.get("dimension"), r["period"]))
        out.append({**r, "significant": bool(c["alert"]), "change": c["change"]} if c else dict(r))
    return out


class SurveyRows:
    """Rows and headline numbers of one campaign under the dashboard's filters."""

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
        """The campaign's id (422 when the dashboard has no campaign)."""
        if self.campaign is None or self.campaign.id is None:
            raise Invalid.field(("query", "campaign_id"), "Field required")
        return int(self.campaign.id)

    @cached_property
    def units(self) -> dict[str, tuple[str, str, str]]:
        """(name, name_en, kind) of every unit, by code."""
        return lookups.unit_directory(self.session)

    @cached_property
    def names(self) -> dict[str, str]:
        """Unit display names in the dashboard's language."""
        en = self.lang == "en"
        return {code: (ne if en and ne else n) for code, (n, ne, _k) in self.units.items()}

    @cached_property
    def dimensions(self) -> dict[str, str]:
        """Display names of the campaign's rated dimensions, in question order."""
        out: dict[str, str] = {}
        if self.campaign is None:
            return out
        en = self.lang == "en"
        for q in lookups.rated_questions(self.session, campaign=self.campaign):
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
        """Indicators by dimension over every unit (the profile's reference)."""
        return self._compute(["dimension"])

    @cached_property
    def ranking_rows(self) -> list[dict[str, Any]]:
        """The composite index ranking (``indicators.ranking``, the rows of ``GET .../ranking``
        under the same area, month and unit kind)."""
        f = self.filters
        res = indicators.ranking(
            self.session,
            campaign_id=self.campaign_id,
            weighted=f.weighted,
            include_flagged=f.include_flagged,
            min_group_size=self.k,
            area_code=f.area or None,
            month=f.month,
            unit_kind=f.unit_kind or None,
        )
        self.methods["ranking"] = res.method
        return res.rows

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
        """Indicators by dimension of the profiled unit."""
        unit = self.profile_unit
        mine = [r for r in self.unit_dimension_rows if r["unit_code"] == unit]
        if not mine and unit:
            # A unit outside the kind filter keeps its profile.
            mine = self._compute(["dimension"], unit_code=unit)
            mine = [{**r, "unit_code": unit} for r in mine]
        return mine

    @cached_property
    def difference_rows(self) -> list[dict[str, Any]]:
        """The profiled unit against the district (``indicators.difference``, the rows of
        ``GET .../difference?a=<unit>&b=district`` under the same area, month and weights)."""
        unit = self.profile_unit
        if not unit:
            return []
        f = self.filters
        res = difference(
            self.session,
            campaign_id=self.campaign_id,
            a=unit,
            b=DISTRICT,
            weighted=f.weighted,
            include_flagged=f.include_flagged,
            min_group_size=self.k,
            area_code=f.area or None,
            month=f.month,
        )
        self.methods["difference"] = res.method
        return res.rows

    @cached_property
    def trend_rows(self) -> list[dict[str, Any]]:
        """Scores per dimension and period (of the chosen unit, else the district) from
        ``indicators.trends`` (the rows of ``GET .../trends?by=dimension`` under the same
        filters), each row flagged ``significant`` when its change is an alert there."""
        f = self.filters
        res = indicators.trends(
            self.session,
            campaign_id=self.campaign_id,
            period=f.period,
            weighted=f.weighted,
            include_flagged=f.include_flagged,
            min_group_size=self.k,
            month=f.month,
            by=["dimension"],
            unit_code=f.unit_code or None,
            area_code=f.area or None,
        )
        self.methods["trends"] = res.method
        return with_changes(res.rows, res.changes or [])

    @cached_property
    def response_rows(self) -> list[dict[str, Any]]:
        """Respondents per period."""
        rows = self._compute([], period=self.filters.period)
        return [{"period": r["period"], "n": r["n"], "suppressed": r["suppressed"]} for r in rows]

    @cached_property
    def distribution_rows(self) -> list[dict[str, Any]]:
        """The distribution of answers per question (``indicators.distribution``, the rows of
        ``GET .../distribution`` under the same filters): of the chosen unit, else of the
        whole district."""
        f = self.filters
        unit = f.unit_code or None
        res = distribution(
            self.session,
            campaign_id=self.campaign_id,
            by="unit" if unit else "district",
            weighted=f.weighted,
            include_flagged=f.include_flagged,
            min_group_size=self.k,
            unit_code=unit,
            area_code=f.area or None,
            month=f.month,
        )
        self.methods["distribution"] = res.method
        return res.rows

    @cached_property
    def question_labels(self) -> dict[str, str]:
        """The rated questions' wording in the dashboard's language, by key."""
        if self.campaign is None:
            return {}
        en = self.lang == "en"
        return {
            q.key: (q.label_en if en and q.label_en else q.label)
            for q in lookups.rated_questions(self.session, campaign=self.campaign)
        }

    @cached_property
    def reliability_rows(self) -> list[dict[str, Any]]:
        """Alpha per multi-question dimension (``kind`` "alpha") and the correlations of the
        composite's dimensions (``kind`` "correlation"), district-wide under the area, month
        and flagged filters (``indicators.reliability``, the rows of ``GET .../reliability``)."""
        f = self.filters
        res = reliability(
            self.session,
            campaign_id=self.campaign_id,
            include_flagged=f.include_flagged,
            min_group_size=self.k,
            area_code=f.area or None,
            month=f.month,
        )
        self.methods["reliability"] = res.method
        return [{"kind": "alpha", **r} for r in res.rows] + [
            {"kind": "correlation", **r} for r in res.correlations
        ]

    @cached_property
    def sensitivity_rows(self) -> list[dict[str, Any]]:
        """Each unit's composite rank under alternative weights and normalisations
        (``indicators.sensitivity``, the rows of ``GET .../sensitivity`` under the same
        filters), unit kind filter applied."""
        f = self.filters
        res = sensitivity(
            self.session,
            campaign_id=self.campaign_id,
            weighted=f.weighted,
            include_flagged=f.include_flagged,
            min_group_size=self.k,
            area_code=f.area or None,
            month=f.month,
        )
        self.methods["sensitivity"] = res.method
        return [r for r in res.rows if self._kind_ok(r["unit_code"])]

    def breakdown_area_rows(self) -> list[dict[str, Any]]:
        """Indicators by the respondents' area."""
        return self._compute(["area"], unit_code=self.filters.unit_code or None)

    def breakdown_profile_rows(self) -> list[dict[str, Any]]:
        """Indicators by age band and sex."""
        return self._compute(["age_band", "sex"], unit_code=self.filters.unit_code or None)

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
            "warnings": self.weighting_warnings(),
            **self.response_rate_headline(),
        }

    def response_rate_headline(self) -> dict[str, Any]:
        """Codes used / issued of an invitation campaign (``surveys.forms.response_rate``, the
        numbers of ``GET .../response-rate``), campaign-wide whatever the filters: a code has
        no area, month or unit. Empty texts for an open campaign, which has no codes."""
        c = self.campaign
        if c is None or c.access != "invitation":
            return {"response_rate": None, "response_rate_text": "", "response_rate_counts": ""}
        rr = response_rate(self.session, campaign=c)
        return {
            "response_rate": rr.rate,
            "response_rate_text": "—" if rr.rate is None else f"{100 * rr.rate:.1f}%",
            "response_rate_counts": f"{rr.used:,} / {rr.issued:,}",
        }

    def weighting_warnings(self) -> list[dict[str, str]]:
        """The weighting's warnings (``method.weighting.warnings`` of the campaign-wide
        figure) in the dashboard's language: empty when unweighted or when all is well."""
        self.overall  # noqa: B018 - computes the method that carries the warnings
        weighting = (self.methods.get("overall") or {}).get("weighting") or {}
        return [
            {"code": w["code"], "text": w["text"].get(self.lang) or w["text"]["zh-CN"]}
            for w in weighting.get("warnings") or []
        ]
