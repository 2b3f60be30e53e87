"""The difference between two units, or between a unit and the district, per dimension.

Each row is a Welch test of the raw (not shrunk) scores as ``compute`` publishes them, with
its 95% interval; the verdicts of one answer are controlled together by Holm's method, so
that nobody has to read overlapping intervals as a test. A unit against the district is
tested against the rest of the district (the district without the unit): the unit is part of
the district, so the two are not independent.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from sqlmodel import Session

from analytics.indicators import lookups
from analytics.indicators.distributions import t_ppf, t_sf
from analytics.indicators.params import check_month, get_campaign, resolve_filters
from analytics.indicators.queries import (
    Filters,
    campaign_questions,
)
from analytics.indicators.service import INTERVAL_NOTE, IndicatorResult, compute, ranking
from analytics.indicators.statistics import CONFIDENCE, change_test, rounded
from analytics.indicators.table import groups_from_counts, read_counts
from analytics.indicators.weighting import cell_weights
from service.errors import Invalid
from surveys.forms.models import Campaign

DISTRICT = "district"
COMPOSITE = "index"
ALPHA = 1 - CONFIDENCE

METHOD = {
    "test": "two-sided Welch t test of the raw scores (score_a - score_b); se = sqrt(se_a^2 + "
    "se_b^2), Welch-Satterthwaite degrees of freedom from each row's df (n_eff - 1, or "
    "(sum w^2)^2 / sum w^4 - 1 when weighted); interval = "
    "difference +/- t(df, 0.975) * se. When neither side has any spread the exact "
    "permutation test over respondents is used, as for trends",
    "district": "a unit against the district is tested against the rest of the district (the "
    "district's respondents without the unit's), because the unit is part of the district; "
    "the difference reported is unit - district = (1 - w_u) * (unit - rest), with se = "
    "(1 - w_u) * sqrt(se_unit^2 + se_rest^2), where w_u is the unit's share of the "
    "district's (weighted) answers in the dimension; the p-value is that of unit - rest",
    "composite": "the composite index (the ranking's raw index: weighted mean of the raw "
    "dimension scores) differs by the weighted mean of the dimension differences; its se is "
    "the weighted mean of their se's (conservative: dimensions treated as perfectly "
    "correlated, as in the ranking) and its degrees of freedom the smallest of theirs",
    "multiplicity": "Holm's step-down method over every row tested in one answer (the "
    "dimensions and the composite): the chance of any false 'higher' or 'lower' is at most "
    f"{ALPHA:.2f}; p_holm is the adjusted p-value",
    "verdict": "'higher' or 'lower' (a against b) when p_holm < 0.05, else 'no clear "
    "difference'. Overlapping intervals of two groups are not a test: two intervals can "
    "overlap while the difference is clear",
    "suppression": "a row has no numbers unless a and b (and, against the district, the "
    "district and the rest of it) are published groups: at least min_group_size respondents "
    "and whole disclosure blocks. The rest of a published district without a published unit "
    "is a union of whole blocks, so it is checked for its size only",
    "note": INTERVAL_NOTE,
}


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error rate)."""
    m = len(p)
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate(p[order] * (m - np.arange(m)))
    out = np.empty(m)
    out[order] = np.minimum(stepped, 1.0)
    return out


def difference(
    session: Session,
    *,
    campaign_id: int,
    a: str,
    b: str,
    weighted: bool = False,
    include_flagged: bool = False,
    min_group_size: int = 5,
    area_code: str | None = None,
    month: str | None = None,
) -> IndicatorResult:
    """Difference of unit ``a`` and unit ``b`` (or ``"district"``) per dimension and for the
    composite index, with interval, p-values and a Holm-controlled verdict per row."""
    check_month(month)
    campaign = get_campaign(session, campaign_id)
    if not a:
        raise Invalid.field(("query", "a"), "give a unit code")
    if a == b:
        raise Invalid.field(("query", "b"), "compare two different units")
    ids = {}
    for name, code in (("a", a), ("b", b)):
        if name == "b" and code == DISTRICT:
            continue
        uid = lookups.unit_id(session, code)
        if uid is None:
            raise Invalid.field(("query", name), f"unknown unit code '{code}'")
        ids[name] = uid
    opts: dict[str, Any] = {
        "weighted": weighted,
        "include_flagged": include_flagged,
        "min_group_size": min_group_size,
        "area_code": area_code,
        "month": month,
    }
    cells = compute(session, campaign_id=campaign_id, by=("unit", "dimension"), **opts)
    rank = ranking(session, campaign_id=campaign_id, **opts)
    wts: dict[str, float] = rank.method["dimension_weights"]
    dims = sorted(wts)
    by_unit = {(r["unit_code"], r["dimension"]): r for r in cells.rows}
    side_a = {d: by_unit.get((a, d)) for d in dims}
    if b == DISTRICT:
        rows = _against_district(session, campaign, a, ids["a"], side_a, dims, opts)
    else:
        side_b = {d: by_unit.get((b, d)) for d in dims}
        rows = _between_units(a, b, side_a, side_b, dims)
    rows.append(_composite(rows, wts, rank.rows, a, b))
    _verdicts(rows)
    method = {
        **METHOD,
        "a": a,
        "b": b,
        "confidence": CONFIDENCE,
        "dimension_weights": wts,
        "weighted": weighted,
        "weighting": cells.method.get("weighting"),
        "include_flagged": include_flagged,
        "min_group_size": min_group_size,
    }
    for name, value in (("area_code", area_code), ("month", month)):
        if value:
            method[name] = value
    return IndicatorResult(rows=rows, method=method)


def _shown(row: dict[str, Any] | None) -> bool:
    return row is not None and not row["suppressed"] and row.get("score") is not None


def _df_size(row: dict[str, Any]) -> float:
    """The size whose n - 1 is the row's degrees of freedom (``Groups.n_df``)."""
    return float(row["df"]) + 1 if row.get("df") is not None else float("nan")


def _test(
    diff: float, se_a: float, se_b: float, n_a: float, n_b: float, m_a: float, m_b: float
) -> tuple[float, float, float]:
    """(t, df, p) of one Welch test (the trend test's function, so both agree)."""
    t, df, p = change_test(
        *(np.array([x], dtype=float) for x in (diff, se_a, se_b, n_a, n_b, m_a, m_b))
    )
    return float(t[0]), float(df[0]), float(p[0])


def _row(
    dimension: str, a: str, b: str, diff: float, se: float, t: float, df: float, p: float
) -> dict[str, Any]:
    crit = float(t_ppf(0.5 + CONFIDENCE / 2, df)) if np.isfinite(df) else 0.0
    return {
        "dimension": dimension,
        "a": a,
        "b": b,
        "difference": rounded(diff),
        "se": rounded(se),
        "ci_low": rounded(diff - crit * se),
        "ci_high": rounded(diff + crit * se),
        "t": rounded(t),
        "df": rounded(df, 4),
        "test": "permutation" if np.isinf(t) else "welch",
        "p_value": rounded(p, 8),
        "suppressed": False,
    }


def _hidden(dimension: str, a: str, b: str) -> dict[str, Any]:
    return {"dimension": dimension, "a": a, "b": b, "suppressed": True}


def _between_units(
    a: str,
    b: str,
    side_a: dict[str, dict[str, Any] | None],
    side_b: dict[str, dict[str, Any] | None],
    dims: list[str],
) -> list[dict[str, Any]]:
    rows = []
    for d in dims:
        ra, rb = side_a[d], side_b[d]
        if ra is None or rb is None or not (_shown(ra) and _shown(rb)):
            rows.append(_hidden(d, a, b))
            continue
        diff = float(ra["score"]) - float(rb["score"])
        se_a, se_b = float(ra["score_se"]), float(rb["score_se"])
        t, df, p = _test(diff, se_a, se_b, _df_size(ra), _df_size(rb), ra["n"], rb["n"])
        row = _row(d, a, b, diff, float(np.hypot(se_a, se_b)), t, df, p)
        row.update(score_a=ra["score"], score_b=rb["score"], n_a=ra["n"], n_b=rb["n"])
        rows.append(row)
    return rows


def _against_district(
    session: Session,
    campaign: Campaign,
    a: str,
    unit_id: int,
    side_a: dict[str, dict[str, Any] | None],
    dims: list[str],
    opts: dict[str, Any],
) -> list[dict[str, Any]]:
    district = compute(session, campaign_id=int(campaign.id or 0), by=("dimension",), **opts)
    whole = {r["dimension"]: r for r in district.rows}
    rest = _rest(session, campaign, unit_id, opts)
    k = int(opts["min_group_size"])
    rows = []
    for d in dims:
        ra, rd, rr = side_a[d], whole.get(d), rest.get(d)
        if ra is None or rd is None or rr is None or not (_shown(ra) and _shown(rd)):
            rows.append(_hidden(d, a, DISTRICT))
            continue
        if rr["n"] < k or not np.isfinite(rr["score"]):
            rows.append(_hidden(d, a, DISTRICT))
            continue
        gap = float(ra["score"]) - rr["score"]
        se_a = float(ra["score_se"])
        t, df, p = _test(gap, se_a, rr["se"], _df_size(ra), rr["n_df"], ra["n"], rr["n"])
        share = 1.0 - rr["share"]
        row = _row(d, a, DISTRICT, share * gap, share * float(np.hypot(se_a, rr["se"])), t, df, p)
        row.update(
            score_a=ra["score"],
            score_b=rd["score"],
            n_a=ra["n"],
            n_b=rd["n"],
            unit_share=rounded(1.0 - share),
            rest_n=int(rr["n"]),
        )
        rows.append(row)
    return rows


def _rest(
    session: Session, campaign: Campaign, unit_id: int, opts: dict[str, Any]
) -> dict[str, dict[str, float]]:
    """Per dimension, the rest of the district (its respondents outside the unit): score, se,
    n_eff, respondents, and the unit's share of the district's (weighted) answers.

    The same counts and the same moments as every indicator, grouped into two sides (the unit,
    the rest) instead of by unit."""
    k = int(opts["min_group_size"])
    month = opts["month"]
    period = "month" if month else None
    fields = ["unit"] + (["period"] if period else [])
    filters: Filters = resolve_filters(
        session, unit_code=None, area_code=opts["area_code"], age_band=None, sex=None
    )
    weights, weighting = None, None
    if opts["weighted"]:
        weights, weighting = cell_weights(session, campaign, opts["include_flagged"], k)
    counts = read_counts(
        session,
        campaign_id=int(campaign.id or 0),
        fields=fields,
        period=period,
        include_flagged=opts["include_flagged"],
        filters=filters,
        weights=weights,
        k=k,
    )
    mine = np.asarray(counts.keys["unit"]).astype(np.int64) == unit_id
    sides = dataclasses.replace(counts, keys={**counts.keys, "unit": mine.astype(np.int64)})
    questions = campaign_questions(session, campaign=campaign)
    group_fields = ["unit", "dimension"] + (["period"] if period else [])
    t = groups_from_counts(sides, questions, ["unit", "dimension"], group_fields, weighting)
    score, _sd, se = t.est["score"]
    # The unit's share of the district's weight in each dimension (of its rated answers).
    dim_of = np.array(
        [questions[q].dimension if q in questions else "" for q in counts.question], dtype=object
    )
    in_month = np.ones(len(counts), dtype=bool)
    if month:
        in_month = np.array([str(p).startswith(month) for p in counts.keys["period"]], dtype=bool)
    out: dict[str, dict[str, float]] = {}
    for i, key in enumerate(t.keys):
        if key[0] != 0 or (month and not str(key[2]).startswith(month)):
            continue
        d = str(key[1])
        here = (dim_of == d) & in_month
        total = float(counts.wn[here].sum())
        share = float(counts.wn[here & mine].sum()) / total if total > 0 else 0.0
        out[d] = {
            "score": float(score[i]),
            "se": float(se[i]),
            "n_eff": float(t.n_eff[i]),
            "n_df": float(t.n_df[i]),
            "n": float(t.n[i]),
            "share": share,
        }
    return out


def _composite(
    rows: list[dict[str, Any]],
    wts: dict[str, float],
    ranked: list[dict[str, Any]],
    a: str,
    b: str,
) -> dict[str, Any]:
    """The composite index's difference from the dimension rows it is made of."""
    used = [d for d, w in wts.items() if w > 0]
    by_dim = {r["dimension"]: r for r in rows}
    index = {r["unit_code"]: r for r in ranked}
    sides = [index.get(a)] + ([index.get(b)] if b != DISTRICT else [])
    parts = [by_dim.get(d) for d in used]
    if (
        not used
        or any(r is None or r["suppressed"] for r in parts)
        or any(s is None or s["suppressed"] for s in sides)
    ):
        return _hidden(COMPOSITE, a, b)
    wsum = sum(wts[d] for d in used)
    diff = sum(wts[d] * float(by_dim[d]["difference"]) for d in used) / wsum
    se = sum(wts[d] * float(by_dim[d]["se"]) for d in used) / wsum
    dfs = [float(by_dim[d]["df"]) for d in used if by_dim[d]["df"] is not None]
    df = min(dfs) if dfs else float("nan")
    if se > 0 and np.isfinite(df):
        t = diff / se
        p = float(2 * t_sf(abs(t), df))
    else:
        # Every dimension without spread: the composite is as certain as its least certain
        # part, so it takes the largest of their p-values.
        t = float("nan") if diff == 0 else float(np.sign(diff) * np.inf)
        p = max(float(by_dim[d]["p_value"]) for d in used)
    row = _row(COMPOSITE, a, b, diff, se, t, df, p)
    row["score_a"] = sides[0]["raw_index"] if sides[0] else None
    if b != DISTRICT and sides[1] is not None:
        row["score_b"] = sides[1]["raw_index"]
    return row


def _verdicts(rows: list[dict[str, Any]]) -> None:
    tested = [r for r in rows if not r["suppressed"]]
    adjusted = holm(np.array([float(r["p_value"]) for r in tested], dtype=float))
    for r, q in zip(tested, adjusted, strict=True):
        r["p_holm"] = rounded(q, 8)
        if q < ALPHA and (r["difference"] or 0) > 0:
            r["verdict"] = "higher"
        elif q < ALPHA and (r["difference"] or 0) < 0:
            r["verdict"] = "lower"
        else:
            r["verdict"] = "no clear difference"
