"""How the composite's ranks move under other weights and normalisations (JRC/OECD practice).

``sensitivity`` serves the API, the dashboard and the report. It starts from the published
per-unit dimension scores (``service.compute`` by unit and dimension, the ranking's inputs,
raw 0-100 means) and ranks the units under the base composite and under each alternative:
equal weights, each dimension dropped in turn, and z-score, min-max and rank (Borda)
normalisation across units. Only published cells enter, so nothing new is disclosed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlmodel import Session

from analytics.indicators.distributions import rankdata
from analytics.indicators.params import check_month, composite_weights, get_campaign
from analytics.indicators.queries import campaign_questions
from analytics.indicators.service import compute
from analytics.indicators.statistics import rounded

BASE = "base"


@dataclass
class SensitivityResult:
    """Ranks per unit under every scenario, and the district's mean shift per scenario."""

    rows: list[dict[str, Any]]
    scenarios: list[dict[str, Any]]
    method: dict[str, Any]


def competition_ranks(values: np.ndarray) -> np.ndarray:
    """Rank 1 for the highest value; equal values (to 6 decimals) share a rank (1, 2, 2, 4)."""
    v = np.round(values, 6)
    return 1 + (v[None, :] > v[:, None]).sum(axis=1)


def normalised(scores: np.ndarray, how: str) -> np.ndarray:
    """Units x dimensions scores normalised across units, per dimension."""
    if how == "raw":
        return scores
    if how == "zscore":
        sd = scores.std(axis=0, ddof=1) if len(scores) > 1 else np.zeros(scores.shape[1])
        safe = np.where(sd > 0, sd, 1.0)
        return np.where(sd > 0, (scores - scores.mean(axis=0)) / safe, 0.0)
    if how == "minmax":
        lo, hi = scores.min(axis=0), scores.max(axis=0)
        span = np.where(hi > lo, hi - lo, 1.0)
        return np.where(hi > lo, (scores - lo) / span, 0.0)
    # Borda: each unit scores its (average) rank among the units, 1 for the lowest.
    return np.column_stack([rankdata(col) for col in scores.T])


def scenarios(dims: list[str], base: dict[str, float]) -> list[tuple[str, str, dict[str, float]]]:
    """(name, normalisation, weights) of the base and every alternative."""
    out = [(BASE, "raw", base), ("equal_weights", "raw", {d: 1.0 for d in dims})]
    if len(dims) > 1:
        for d in dims:
            out.append((f"drop_{d}", "raw", {e: w for e, w in base.items() if e != d}))
    out += [(f"{how}", how, base) for how in ("zscore", "minmax", "borda")]
    return out


def rank_table(
    scores: np.ndarray, dims: list[str], base: dict[str, float]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Composite value and rank of every unit (rows of ``scores``) under each scenario."""
    values: dict[str, np.ndarray] = {}
    ranks: dict[str, np.ndarray] = {}
    for name, how, w in scenarios(dims, base):
        x = normalised(scores, how)
        wv = np.array([w.get(d, 0.0) for d in dims])
        values[name] = x @ wv / wv.sum()
        ranks[name] = competition_ranks(values[name])
    return values, ranks


def sensitivity(
    session: Session,
    *,
    campaign_id: int,
    weighted: bool = False,
    include_flagged: bool = False,
    min_group_size: int = 5,
    dimension_weights: dict[str, float] | None = None,
    area_code: str | None = None,
    month: str | None = None,
) -> SensitivityResult:
    """Per unit: base rank, rank under each scenario, median and largest absolute shift."""
    check_month(month)
    campaign = get_campaign(session, campaign_id)
    questions = campaign_questions(session, campaign=campaign)
    wts = composite_weights(campaign, questions, dimension_weights)
    dims = [d for d in wts if wts[d] > 0]
    base = {d: wts[d] for d in dims}
    res = compute(
        session,
        campaign_id=campaign_id,
        by=["unit", "dimension"],
        weighted=weighted,
        include_flagged=include_flagged,
        min_group_size=min_group_size,
        area_code=area_code,
        month=month,
    )
    cells: dict[str, dict[str, Any]] = {}
    names: dict[str, tuple[str, str]] = {}
    for r in res.rows:
        code = r.get("unit_code")
        if code is None:
            continue
        names[code] = (r.get("unit_name") or "", r.get("unit_name_en") or "")
        if r.get("dimension") in base:
            cells.setdefault(code, {})[r["dimension"]] = None if r["suppressed"] else r.get("score")
    shown = sorted(c for c, s in cells.items() if all(s.get(d) is not None for d in dims))
    hidden = sorted(set(names) - set(shown))
    rows: list[dict[str, Any]] = []
    summary: list[dict[str, Any]] = []
    if shown and dims:
        scores = np.array([[float(cells[c][d]) for d in dims] for c in shown])
        values, ranks = rank_table(scores, dims, base)
        alt = [s for s in ranks if s != BASE]
        shifts = np.column_stack([np.abs(ranks[s] - ranks[BASE]) for s in alt])
        for i, code in enumerate(shown):
            rows.append(
                {
                    "unit_code": code,
                    "unit_name": names[code][0],
                    "unit_name_en": names[code][1],
                    "base_rank": int(ranks[BASE][i]),
                    "base_index": rounded(values[BASE][i]),
                    "ranks": {s: int(ranks[s][i]) for s in ranks},
                    "median_shift": rounded(float(np.median(shifts[i])), 4),
                    "max_shift": int(shifts[i].max()),
                    "suppressed": False,
                }
            )
        rows.sort(key=lambda r: (r["base_rank"], r["unit_code"]))
        for j, s in enumerate(alt):
            summary.append(
                {"scenario": s, "mean_abs_shift": rounded(float(shifts[:, j].mean()), 4)}
            )
    rows += [
        {"unit_code": c, "unit_name": names[c][0], "unit_name_en": names[c][1], "suppressed": True}
        for c in hidden
    ]
    method = {
        "scores": "published raw dimension scores (0-100 means) of each unit, as in "
        "GET .../indicators?by=unit,dimension; a unit with a withheld cell of the composite is "
        "left out of every scenario",
        "base": "weighted mean of the raw scores with the base dimension weights",
        "dimension_weights": base,
        "scenarios": {
            "equal_weights": "every dimension of the composite weighted 1",
            "drop_<dimension>": "base weights without that dimension",
            "zscore": "each dimension standardised across units ((x - mean) / sd, sd with n-1), "
            "base weights",
            "minmax": "each dimension rescaled across units to 0-1, base weights",
            "borda": "each dimension replaced by the units' rank on it (average ranks, 1 the "
            "lowest), base weights",
        },
        "rank": "competition ranking of the composite (1 the highest; equal values share a rank)",
        "shift": "absolute difference between a scenario's rank and the base rank; per unit the "
        "median and the largest over the scenarios, per scenario the mean over units",
        "weighted": weighted,
        "include_flagged": include_flagged,
        "min_group_size": min_group_size,
    }
    for name, value in (("area_code", area_code), ("month", month)):
        if value:
            method[name] = value
    return SensitivityResult(rows=rows, scenarios=summary, method=method)
