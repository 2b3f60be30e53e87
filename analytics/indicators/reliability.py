"""Reliability of multi-question dimensions and the correlation of the composite's dimensions.

``reliability`` serves the API, the dashboard and the report: Cronbach's alpha (with Feldt's
interval) of every dimension of two or more rating questions, and the Pearson correlation of
the respondents' dimension scores, district-wide or per unit. Both are second moments over
the respondents of a published group (whole disclosure blocks, at least ``k``), unweighted,
and shown only when at least ``max(k, MIN_RESPONDENTS)`` respondents enter them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlmodel import Session

from analytics.indicators import respondents
from analytics.indicators.disclosure import PRIMARY, SECONDARY
from analytics.indicators.distributions import f_ppf
from analytics.indicators.params import check_month, get_campaign, resolve_filters
from analytics.indicators.queries import QuestionInfo, campaign_questions, unit_labels
from analytics.indicators.statistics import CONFIDENCE, rounded
from service.db import stored_id

# Fewer respondents than this give an alpha or a correlation too unstable to read.
MIN_RESPONDENTS = 10
TOO_FEW = "too_few"


@dataclass
class ReliabilityResult:
    """Alpha per group and dimension, correlations per group and pair of dimensions."""

    rows: list[dict[str, Any]]
    correlations: list[dict[str, Any]]
    method: dict[str, Any]


def cronbach_alpha(items: np.ndarray) -> float:
    """Alpha of a respondents x items matrix without gaps: k/(k-1) (1 - sum var_i / var_sum)."""
    n_items = items.shape[1]
    total = items.sum(axis=1).var(ddof=1)
    if total <= 0:
        return float("nan")
    return float(n_items / (n_items - 1) * (1 - items.var(axis=0, ddof=1).sum() / total))


def feldt_interval(alpha: float, n: int, n_items: int) -> tuple[float, float]:
    """Feldt's interval: (1 - alpha) / (1 - alpha_hat) ~ F(n - 1, (n - 1)(k - 1))."""
    df1, df2 = n - 1, (n - 1) * (n_items - 1)
    tail = (1 - CONFIDENCE) / 2
    lo = 1 - (1 - alpha) * float(f_ppf(1 - tail, df1, df2))
    hi = 1 - (1 - alpha) * float(f_ppf(tail, df1, df2))
    return lo, hi


def _dimensions(questions: dict[str, QuestionInfo]) -> dict[str, list[str]]:
    dims: dict[str, list[str]] = {}
    for q in sorted(questions.values(), key=lambda q: q.key):
        if q.type == "rating":
            dims.setdefault(q.dimension, []).append(q.key)
    return dims


def _scores(
    values: Mapping[str, np.ndarray], keys: list[str], questions: dict[str, QuestionInfo]
) -> np.ndarray:
    """Each respondent's dimension score: the mean of its answered questions on 0-100."""
    cols = [
        100
        * (values[k] - questions[k].scale_min)
        / (questions[k].scale_max - questions[k].scale_min)
        for k in keys
    ]
    m = np.vstack(cols)
    answered = np.isfinite(m).sum(axis=0)
    with np.errstate(invalid="ignore"):
        return np.where(answered > 0, np.nansum(m, axis=0) / np.maximum(answered, 1), np.nan)


def _alpha_row(items: np.ndarray, floor: int) -> dict[str, Any]:
    complete = items[np.isfinite(items).all(axis=1)]
    n = len(complete)
    if n < floor:
        return {"n": None, "too_few": True}
    a = cronbach_alpha(complete)
    lo, hi = feldt_interval(a, n, items.shape[1]) if np.isfinite(a) else (np.nan, np.nan)
    return {
        "n": n,
        "alpha": rounded(a, 4),
        "alpha_ci_low": rounded(lo, 4),
        "alpha_ci_high": rounded(hi, 4),
        "too_few": False,
    }


def _corr_row(x: np.ndarray, y: np.ndarray, floor: int) -> dict[str, Any]:
    both = np.isfinite(x) & np.isfinite(y)
    n = int(both.sum())
    if n < floor:
        return {"n": None, "r": None, "too_few": True}
    xs, ys = x[both], y[both]
    if xs.std() == 0 or ys.std() == 0:
        return {"n": n, "r": None, "too_few": False}
    return {"n": n, "r": rounded(float(np.corrcoef(xs, ys)[0, 1]), 4), "too_few": False}


def reliability(
    session: Session,
    *,
    campaign_id: int,
    include_flagged: bool = False,
    min_group_size: int = 5,
    area_code: str | None = None,
    month: str | None = None,
    by_unit: bool = False,
) -> ReliabilityResult:
    """Alpha per multi-question dimension and correlations of the composite's dimensions,
    district-wide or per unit (``by_unit``), under the area, month and flagged filters."""
    check_month(month)
    campaign = get_campaign(session, campaign_id)
    questions = campaign_questions(session, campaign=campaign)
    dims = _dimensions(questions)
    weights = campaign.dimension_weights or {}
    composite = [d for d in dims if float(weights.get(d, 1.0)) > 0]
    multi = {d: keys for d, keys in dims.items() if len(keys) >= 2}
    filters = resolve_filters(session, unit_code=None, area_code=area_code, age_band=None, sex=None)
    fields = (["unit"] if by_unit else []) + (["period"] if month else [])
    groups = respondents.answers(
        session,
        campaign_id=stored_id(campaign),
        fields=fields,
        period="month" if month else None,
        include_flagged=include_flagged,
        filters=filters,
        k=min_group_size,
    )
    if month:
        groups = [g for g in groups if g.key[-1] == month]
    labels = unit_labels(session, [g.key[0] for g in groups]) if by_unit else {}
    floor = max(min_group_size, MIN_RESPONDENTS)
    rows: list[dict[str, Any]] = []
    corr: list[dict[str, Any]] = []
    for g in sorted(groups, key=lambda g: labels.get(g.key[0], ("",))[0] if by_unit else ""):
        head: dict[str, Any] = {}
        if by_unit:
            code, name, name_en = labels.get(g.key[0], (None, "", ""))
            head = {"unit_code": code, "unit_name": name, "unit_name_en": name_en}
        if month:
            head["month"] = month
        reason = PRIMARY if g.n < min_group_size else SECONDARY
        hidden = {"suppressed": True, "suppression": reason, "too_few": False}
        for d, keys in multi.items():
            base = {**head, "dimension": d, "items": len(keys)}
            if not g.published:
                rows.append({**base, "n": None, **hidden})
                continue
            items = np.column_stack([g.values[k] for k in keys])
            one = _alpha_row(items, floor)
            rows.append(
                {
                    **base,
                    **one,
                    "suppressed": False,
                    "suppression": TOO_FEW if one["too_few"] else None,
                }
            )
        scores = (
            {d: _scores(g.values, dims[d], questions) for d in composite} if g.published else {}
        )
        for i, a in enumerate(composite):
            for b in composite[i + 1 :]:
                base = {**head, "dimension_a": a, "dimension_b": b}
                if not g.published:
                    corr.append({**base, "n": None, "r": None, **hidden})
                    continue
                one = _corr_row(scores[a], scores[b], floor)
                corr.append(
                    {
                        **base,
                        **one,
                        "suppressed": False,
                        "suppression": TOO_FEW if one["too_few"] else None,
                    }
                )
    method = {
        "alpha": "Cronbach's alpha = k/(k-1) * (1 - sum of item variances / variance of the "
        "sum), over the respondents who answered every rating question of the dimension "
        "(unweighted, variances with n-1)",
        "alpha_interval": f"Feldt: 1 - (1 - alpha) * F quantiles ({1 - CONFIDENCE:.2f}/2 and "
        f"1 - {1 - CONFIDENCE:.2f}/2) of F(n - 1, (n - 1)(k - 1)); confidence {CONFIDENCE}",
        "correlation": "Pearson correlation of the respondents' dimension scores (mean of "
        "their answered questions of the dimension on 0-100), pairwise complete; dimensions "
        "of the composite (weight > 0)",
        "weighted": False,
        "include_flagged": include_flagged,
        "by_unit": by_unit,
        "min_group_size": min_group_size,
        "min_respondents": floor,
        "suppression": "only groups the indicators view publishes (whole disclosure blocks of "
        f"at least min_group_size respondents); a figure over fewer than {floor} respondents "
        "is withheld as too_few",
    }
    for name, value in (("area_code", area_code), ("month", month)):
        if value:
            method[name] = value
    return ReliabilityResult(rows=rows, correlations=corr, method=method)
