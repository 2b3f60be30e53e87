"""Indicators of a campaign: counts, statistics, weighting, disclosure control, ranking, trends.

Files by role: ``params`` (query checks, the 422s), ``queries`` and ``lookups`` (SQL),
``cube`` (the in-process columnar copy), ``table`` (counts -> per-group moments),
``statistics``, ``weighting``, ``disclosure``, ``service`` (one function per published
number: ``compute``, ``ranking``, ``trends``), ``schemas`` and ``router``.
"""

from analytics.indicators.params import (
    MONTH_PATTERN,
    check_month,
    get_campaign,
    parse_by,
    parse_weights,
)
from analytics.indicators.service import IndicatorResult, compute, ranking, trends
from analytics.indicators.statistics import benjamini_hochberg, shrink, wilson
from analytics.indicators.weighting import rake

__all__ = [
    "MONTH_PATTERN",
    "IndicatorResult",
    "benjamini_hochberg",
    "check_month",
    "compute",
    "get_campaign",
    "parse_by",
    "parse_weights",
    "rake",
    "ranking",
    "shrink",
    "trends",
    "wilson",
]
