"""Independent reference computations on the raw answers (numpy and scipy, one row per answer)."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import numpy as np
from scipy import stats as sps
from sqlalchemy import text
from sqlalchemy.engine import Engine

from analytics.indicators.disclosure import blocks


def raw_answers(
    engine: Engine, campaign_id: int, include_flagged: bool = False
) -> list[dict[str, Any]]:
    """One dict per numeric answer to a rating or NPS question, with its respondent's fields."""
    sql = text(
        """
        SELECT r.id, u.code, a2.code, r.age_band, r.sex, r.submitted_hour, r.flagged,
               q.key, q.type, q.dimension, q.scale_min, q.scale_max, a.value_num
        FROM survey_response r
        JOIN unit u ON u.id = r.unit_id
        LEFT JOIN unit a2 ON a2.id = r.area_unit_id
        JOIN response_answer a ON a.response_id = r.id
        JOIN campaign c ON c.id = r.campaign_id
        JOIN survey_question q ON q.survey_id = c.survey_id AND q.key = a.question_key
        WHERE r.campaign_id = :cid AND q.type IN ('rating', 'nps') AND a.value_num IS NOT NULL
        """
    )
    with engine.connect() as conn:
        rows = conn.execute(sql, {"cid": campaign_id}).all()
    out = []
    for rid, unit, area, age, sex, hour, flagged, key, qtype, dim, lo, hi, v in rows:
        if flagged and not include_flagged:
            continue
        out.append(
            {
                "rid": rid,
                "unit": unit,
                "area": area,
                "age_band": age,
                "sex": sex,
                "month": _month(hour),
                "key": key,
                "type": qtype,
                "dimension": dim or ("nps" if qtype == "nps" else key),
                "lo": float(lo),
                "hi": float(hi),
                "v": float(v),
            }
        )
    return out


def _month(hour: Any) -> str:
    if isinstance(hour, datetime):
        if hour.tzinfo is not None:
            hour = hour.astimezone(UTC)
        return hour.strftime("%Y-%m")
    return str(hour)[:7]


def respondents(
    engine: Engine, campaign_id: int, include_flagged: bool = False
) -> list[dict[str, Any]]:
    sql = text(
        """
        SELECT r.id, u.code, a2.code, r.age_band, r.sex, r.flagged, r.unit_id,
               r.area_unit_id, r.submitted_hour FROM survey_response r
        JOIN unit u ON u.id = r.unit_id LEFT JOIN unit a2 ON a2.id = r.area_unit_id
        WHERE r.campaign_id = :cid
        """
    )
    with engine.connect() as conn:
        rows = conn.execute(sql, {"cid": campaign_id}).all()
    return [
        {
            "rid": r[0],
            "unit": r[1],
            "area": r[2],
            "age_band": r[3],
            "sex": r[4],
            "unit_id": r[6],
            "area_id": r[7] or 0,
            "month": str(r[8])[:7],
        }
        for r in rows
        if include_flagged or not r[5]
    ]


def group(
    answers: list[dict[str, Any]], keys: list[str]
) -> dict[tuple[Any, ...], list[dict[str, Any]]]:
    out: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for a in answers:
        out[tuple(a[k] for k in keys)].append(a)
    return out


def plain_stats(items: list[dict[str, Any]]) -> dict[str, float]:
    """Mean, sd, t interval, score and its interval, top-two share and its Wilson interval."""
    v = np.array([a["v"] for a in items])
    s = np.array([100 * (a["v"] - a["lo"]) / (a["hi"] - a["lo"]) for a in items])
    top = np.array([a["v"] >= a["hi"] - 1 for a in items])
    n = len(v)
    lo, hi = sps.t.interval(0.95, n - 1, loc=v.mean(), scale=sps.sem(v))
    slo, shi = sps.t.interval(0.95, n - 1, loc=s.mean(), scale=sps.sem(s))
    ci = sps.binomtest(int(top.sum()), n).proportion_ci(0.95, method="wilson")
    return {
        "n": n,
        "mean": v.mean(),
        "sd": v.std(ddof=1),
        "ci_low": lo,
        "ci_high": hi,
        "score": s.mean(),
        "score_ci_low": slo,
        "score_ci_high": shi,
        "satisfaction_rate": top.mean(),
        "satisfaction_ci_low": ci.low,
        "satisfaction_ci_high": ci.high,
    }


def rake_per_respondent(
    people: list[dict[str, Any]], margins: dict[str, dict[str, float]]
) -> dict[int, float]:
    """Raking weights by plain per-respondent iteration (independent of the app's cell version)."""
    w = np.ones(len(people))
    fields = [f for f in ("area", "age_band", "sex") if margins.get(f)]
    cats = {f: np.array([p[f] for p in people], dtype=object) for f in fields}
    for _ in range(1000):
        worst = 0.0
        for f in fields:
            shares = margins[f]
            total = w.sum()
            for cat, share in shares.items():
                sel = cats[f] == cat
                cur = w[sel].sum()
                if cur == 0:
                    continue
                ratio = share * total / cur
                worst = max(worst, abs(ratio - 1))
                w[sel] *= ratio
        if worst < 1e-12:
            break
    w *= len(people) / w.sum()
    return {p["rid"]: float(x) for p, x in zip(people, w, strict=True)}


def block_mean_weights(
    people: list[dict[str, Any]], weights: dict[int, float], k: int = 5
) -> dict[int, float]:
    """Each respondent's weight replaced by the mean over its disclosure block (the partition
    is the product's, ``disclosure.blocks``, on the same attributes; the averaging is redone
    here)."""

    def ranked(values: list[Any]) -> np.ndarray:
        order = {v: i for i, v in enumerate(sorted(set(values)))}
        return np.array([order[v] for v in values], dtype=np.int64)

    levels = [
        ranked([p[f] or "" if f in ("sex", "age_band") else p[f] for p in people])
        for f in ("unit_id", "month", "area_id", "sex", "age_band")
    ]
    block = blocks(levels, k)
    w = np.array([weights[p["rid"]] for p in people])
    mean = {b: float(w[block == b].mean()) for b in set(block.tolist())}
    return {p["rid"]: mean[int(b)] for p, b in zip(people, block, strict=True)}


def weighted_stats(items: list[dict[str, Any]], weights: dict[int, float]) -> dict[str, float]:
    """Weighted mean with the Taylor-linearised variance, computed answer by answer."""
    w = np.array([weights[a["rid"]] for a in items])
    v = np.array([a["v"] for a in items])
    s = np.array([100 * (a["v"] - a["lo"]) / (a["hi"] - a["lo"]) for a in items])
    top = np.array([a["v"] >= a["hi"] - 1 for a in items], dtype=float)
    n = len(v)
    neff = w.sum() ** 2 / (w * w).sum()
    # Satterthwaite degrees of freedom of sum w^2 e^2: (sum w^2)^2 / sum w^4, minus one.
    df = (w * w).sum() ** 2 / (w**4).sum() - 1

    def est(y: np.ndarray) -> tuple[float, float]:
        m = float((w * y).sum() / w.sum())
        var = n / (n - 1) * float((w * w * (y - m) ** 2).sum()) / w.sum() ** 2
        return m, math.sqrt(var)

    m, se = est(v)
    t = sps.t.ppf(0.975, df)
    sm, sse = est(s)
    p, _ = est(top)
    z = sps.norm.ppf(0.975)
    centre = (p + z * z / (2 * neff)) / (1 + z * z / neff)
    half = z * math.sqrt(p * (1 - p) / neff + z * z / (4 * neff * neff)) / (1 + z * z / neff)
    return {
        "mean": m,
        "ci_low": m - t * se,
        "ci_high": m + t * se,
        "score": sm,
        "score_ci_low": sm - t * sse,
        "score_ci_high": sm + t * sse,
        "satisfaction_rate": p,
        "satisfaction_ci_low": centre - half,
        "satisfaction_ci_high": centre + half,
        "n_eff": neff,
        "df": df,
    }
