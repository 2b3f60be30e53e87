"""The comment panels of a dashboard: sentiment per unit, themes and the comment list.

Numbers come from their services: sentiment shares from ``analytics.indicators.sentiment``,
themes and the list from ``analytics.comments``; this module picks the units and labels rows.
"""

from __future__ import annotations

import math
from functools import cached_property
from typing import Any

from analytics import figures
from analytics.comments import aspect_shares, search, themes
from analytics.comments.scoring import pending_count
from analytics.dashboard.options import COMMENT_LIMIT, DIMENSION_NAMES, THEME_COMMENTS
from analytics.dashboard.rows import SurveyRows
from analytics.indicators import lookups
from analytics.indicators.sentiment import sentiment_by_unit


class CommentRows(SurveyRows):
    """The comment panels' rows under the dashboard's filters."""

    @cached_property
    def commentable_units(self) -> dict[int, str]:
        """Units whose respondents (under the filters) are numerous enough to show comments."""
        rows = self._compute(["unit"])
        codes = {
            r["unit_code"]
            for r in rows
            if not r["suppressed"] and (r["n"] or 0) >= self.k and self._kind_ok(r["unit_code"])
        }
        return {uid: code for code, uid in lookups.unit_ids(self.session, codes).items()}

    def sentiment_rows(self) -> list[dict[str, Any]]:
        """Share of positive / neutral / negative comments per unit, with the negative share's
        Wilson interval; units with fewer than k commenting respondents are suppressed."""
        f = self.filters
        return sentiment_by_unit(
            self.session,
            campaign_id=self.campaign_id,
            units=self.commentable_units,
            area_code=f.area or None,
            include_flagged=f.include_flagged,
            min_group_size=self.k,
        )

    @cached_property
    def pending(self) -> int:
        """Comments still waiting for their sentiment. Counting them reads every unscored
        comment of the campaign (0.2 s at a million responses), and each comment panel asks
        when it has nothing to draw: counted once per dashboard, and taken from the theme or
        aspect result when one of those (which count it too) came first."""
        return pending_count(self.session, campaign_id=self.campaign_id)

    @cached_property
    def theme_comments(self) -> int:
        """Comments read per unit for the district's themes: ``THEME_COMMENTS`` shared by the
        units shown, so the pooled sample stays the size of one unit's. At the full quota per
        unit, 100 units meant 100,000 comments through jieba: 20-35 s at any campaign size."""
        if self.filters.unit_code:
            return THEME_COMMENTS
        shown = sum(1 for r in self._compute(["unit"]) if not r["suppressed"])
        return max(self.k, math.ceil(THEME_COMMENTS / max(shown, 1)))

    @cached_property
    def aspect_result(self) -> dict[str, Any]:
        """Complaints per dimension under the filters (``analytics.comments.aspect_shares``)."""
        f = self.filters
        res = aspect_shares.aspect_shares(
            self.session,
            campaign_id=self.campaign_id,
            unit_code=f.unit_code or None,
            area_code=f.area or None,
            include_flagged=f.include_flagged,
            min_group_size=self.k,
            # The panels draw shares, not the per-aspect themes: extracting those would run
            # jieba over up to max_comments comments of every aspect for nothing.
            max_comments=0,
        )
        self.methods["aspects"] = res["method"]
        self.__dict__.setdefault("pending", int(res["pending"]))  # the cached ``pending``
        return res

    @property
    def aspect_names(self) -> dict[str, str]:
        """Display names of aspect keys: the campaign's dimensions, then the common ones."""
        i = 1 if self.lang == "en" else 0
        return {**{k: v[i] for k, v in DIMENSION_NAMES.items()}, **self.dimensions}

    def comments_empty_reason(self, *, aspects: bool = False) -> str:
        """Why a comment chart has nothing to draw, in words: still being scored, groups too
        small to show, no comments, or (aspects) not tagged yet."""
        pending = self.pending
        if pending:
            return figures.label(self.lang, "comments_pending", n=pending)
        if aspects and self.aspect_result["untagged"]:
            return figures.label(self.lang, "aspects_untagged")
        if self.response_rows and not self.commentable_units:
            return figures.label(self.lang, "comments_too_small", k=self.k)
        if aspects and self.aspect_result["rows"]:
            return figures.label(self.lang, "comments_too_small", k=self.k)
        return figures.label(self.lang, "comments_none")

    def theme_rows(self) -> list[dict[str, Any]]:
        """The most negative themes of the chosen unit's comments, or of all the shown units'
        comments when no unit is chosen (``analytics.comments``).

        Not the profiled unit's by default: that is the top of the ranking, the unit with the
        fewest complaints, so its themes were often empty (issue 19)."""
        f = self.filters
        res = themes.themes(
            self.session,
            campaign_id=self.campaign_id,
            by="unit",
            unit_code=f.unit_code or None,
            area_code=f.area or None,
            include_flagged=f.include_flagged,
            min_group_size=self.k,
            max_comments=self.theme_comments,
            pooled=not f.unit_code,
        )
        self.methods["themes"] = res.get("method")
        self.__dict__.setdefault("pending", int(res.get("pending") or 0))  # ``pending``
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
        """Comments (newest first) from groups with enough respondents (``analytics.comments``);
        True when more matched than are listed."""
        f = self.filters
        page = search.list_comments(
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
