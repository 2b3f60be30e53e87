"""The dashboard's vocabulary: its figures and tables, its filters, and dimension names."""

from __future__ import annotations

from dataclasses import dataclass

SURVEY_FIGURES = (
    "responses",
    "ranking",
    "heatmap",
    "profile",
    "trends",
    "breakdown_area",
    "breakdown_profile",
    "distribution",
    "sentiment",
    "themes",
    "aspects",
    "aspect_trends",
    "difference",
    "reliability",
    "sensitivity",
)
VOTE_FIGURES = ("vote", "tracker")
FIGURE_NAMES = SURVEY_FIGURES + VOTE_FIGURES
TABLE_NAMES = FIGURE_NAMES + ("comments",)
COMMENT_LIMIT = 200
# Themes are read from a unit's most recent comments, so a view stays fast on big campaigns.
THEME_COMMENTS = 1000

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
