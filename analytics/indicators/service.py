"""The indicator views: one function per published number.

``compute`` (indicator rows), ``ranking`` (composite index with rank ranges) and ``trends``
(changes between periods with a test) serve the JSON API, the dashboard, the figures and the
report alike. Every figure comes from counts per scale point (``analytics.indicators.table``),
so nothing here scans raw answers. The method and its parameters are returned with the rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlmodel import Session

from analytics.indicators import lookups
from analytics.indicators.distributions import t_ppf
from analytics.indicators.params import (
    check_month,
    check_period,
    composite_weights,
    get_campaign,
    in_month,
    parse_by,
    resolve_filters,
)
from analytics.indicators.queries import campaign_questions
from analytics.indicators.statistics import (
    CONFIDENCE,
    Z,
    benjamini_hochberg,
    change_test,
    nps_interval,
    rounded,
    rounded_column,
)
from analytics.indicators.table import (
    Groups,
    build_table,
    shrink_families,
    suppression,
    unit_names,
)

RANK_DRAWS = 1000

INTERVAL_NOTE = (
    "Residents choose to respond. Intervals show the precision of each figure under the stated "
    "assumption that, within a group (and within a weighting cell when weighted), those who "
    "answered resemble those who did not; they are not a margin of error for the population."
)


@dataclass
class IndicatorResult:
    """Indicator rows and the method used to compute them."""

    rows: list[dict[str, Any]]
    method: dict[str, Any]
    changes: list[dict[str, Any]] | None = None


def compute(
    session: Session,
    *,
    campaign_id: int,
    by: str | Sequence[str] | None = ("unit", "dimension"),
    period: str | None = None,
    weighted: bool = False,
    include_flagged: bool = False,
    min_group_size: int = 5,
    unit_code: str | None = None,
    area_code: str | None = None,
    age_band: str | None = None,
    sex: str | None = None,
    month: str | None = None,
) -> IndicatorResult:
    """Indicator rows for a campaign grouped by ``by`` (and ``period``), with the method used.

    ``month`` (YYYY-MM) keeps the rows of one calendar month, taken from the table grouped by
    period (by month, unless another period is asked for), so that its suppression holds
    across months too: a month's figures never differ from that table's, and no window
    outside the fixed periods can be subtracted from another to reveal a small group.
    """
    check_month(month)
    if month is not None:
        whole = compute(
            session,
            campaign_id=campaign_id,
            by=by,
            period=period or "month",
            weighted=weighted,
            include_flagged=include_flagged,
            min_group_size=min_group_size,
            unit_code=unit_code,
            area_code=area_code,
            age_band=age_band,
            sex=sex,
        )
        rows = in_month(whole.rows, month)
        if period is None:
            rows = [{k: v for k, v in r.items() if k != "period"} for r in rows]
        method = {**whole.method, "by": parse_by(by), "period": period, "month": month}
        return IndicatorResult(rows=rows, method=method)
    fields = parse_by(by)
    check_period(period)
    campaign = get_campaign(session, campaign_id)
    filters = resolve_filters(
        session, unit_code=unit_code, area_code=area_code, age_band=age_band, sex=sex
    )
    t = build_table(
        session,
        campaign=campaign,
        by=fields,
        period=period,
        weighted=weighted,
        include_flagged=include_flagged,
        filters=filters,
        k=min_group_size,
    )
    return _rows(session, t, fields, period, weighted, include_flagged, min_group_size)


def _rows(
    session: Session,
    t: Groups,
    fields: list[str],
    period: str | None,
    weighted: bool,
    include_flagged: bool,
    k: int,
) -> IndicatorResult:
    hidden = suppression(t, k)
    shrunk, post, shrink_report = shrink_families(t, hidden)
    labels = unit_names(session, t)
    vm, vsd, vse = t.est["value"]
    sm, _ssd, sse = t.est["score"]
    tm, _tsd, _tse = t.est["top"]
    nps_val, nps_se, nps_cnt = t.nps
    with np.errstate(invalid="ignore"):
        df = np.maximum(t.n_df - 1, 1)
        t_all = np.where(t.n_eff >= 2, t_ppf(0.5 + CONFIDENCE / 2, df), np.nan)
    mean = np.where(t.mixed_scale, np.nan, vm)
    neff = t.n_eff
    zz = Z * Z
    with np.errstate(invalid="ignore", divide="ignore"):
        # Wilson score interval on the (effective) sample size, for every row at once.
        denom = 1 + zz / neff
        centre = (tm + zz / (2 * neff)) / denom
        whalf = Z * np.sqrt(tm * (1 - tm) / neff + zz / (4 * neff * neff)) / denom
    has_nps = (nps_cnt >= k) & np.isfinite(nps_val)
    nps_v = np.where(has_nps, nps_val, np.nan)
    promoters, detractors, nps_neff = t.nps_parts
    nps_low, nps_high = nps_interval(promoters, detractors, np.where(has_nps, nps_neff, 0.0))
    cols = {
        "n_eff": rounded_column(neff, 2),
        "df": rounded_column(np.where(t.n_eff >= 2, df, np.nan)),
        "mean": rounded_column(mean),
        "sd": rounded_column(np.where(np.isfinite(mean), vsd, np.nan)),
        "ci_low": rounded_column(mean - t_all * vse),
        "ci_high": rounded_column(mean + t_all * vse),
        "scale_min": rounded_column(t.lo),
        "scale_max": rounded_column(t.hi),
        "score": rounded_column(sm),
        "score_se": rounded_column(sse),
        "score_ci_low": rounded_column(sm - t_all * sse),
        "score_ci_high": rounded_column(sm + t_all * sse),
        "shrunk_score": rounded_column(shrunk),
        "shrunk_ci_low": rounded_column(shrunk - Z * post),
        "shrunk_ci_high": rounded_column(shrunk + Z * post),
        "satisfaction_rate": rounded_column(tm),
        "satisfaction_ci_low": rounded_column(np.maximum(0.0, centre - whalf)),
        "satisfaction_ci_high": rounded_column(np.minimum(1.0, centre + whalf)),
        "nps": rounded_column(nps_v),
        "nps_ci_low": rounded_column(np.where(has_nps, nps_low, np.nan)),
        "nps_ci_high": rounded_column(np.where(has_nps, nps_high, np.nan)),
    }
    n_list = t.n.astype(np.int64).tolist()
    na_list = t.n_answers.astype(np.int64).tolist()
    rows = []
    for i, key in enumerate(t.keys):
        row: dict[str, Any] = {}
        for f, val in zip(t.fields, key, strict=True):
            if f in ("unit", "area"):
                code, name, name_en = labels.get(f, {}).get(int(val), (None, "", ""))
                row[f"{f}_code"] = code
                row[f"{f}_name"] = name
                row[f"{f}_name_en"] = name_en
            else:
                row[f] = val if val != "" else None
        reason = hidden.get(key)
        if reason:
            row.update(n=None, suppressed=True, suppression=reason)
        else:
            row["n"] = n_list[i]
            row["n_answers"] = na_list[i]
            for name, values in cols.items():
                row[name] = values[i]
            row["suppressed"] = False
            row["suppression"] = None
        rows.append(row)
    method = {
        "by": fields,
        "period": period,
        "weighted": weighted,
        "include_flagged": include_flagged,
        "source": t.source,
        "confidence": CONFIDENCE,
        "mean_interval": (
            "Taylor-linearised (design-based) standard error of the weighted mean, t with "
            "(sum w^2)^2 / sum w^4 - 1 df (Satterthwaite)"
            if weighted
            else "t interval: mean +/- t(n-1) * sd / sqrt(n)"
        ),
        "proportion_interval": "Wilson score interval"
        + (" on the effective sample size" if weighted else ""),
        "score": "100 * (answer - scale_min) / (scale_max - scale_min), averaged",
        "satisfaction": "share of answers in the top two points of their scale that lie above "
        "its midpoint: 4-5 of 1-5, 9-10 of 0-10, 3-4 of 1-4, only the top of a 3- or 2-point "
        "scale; the midpoint and the bottom never count",
        "nps": "over the NPS answers of the cell only: % answers 9-10 minus % answers 0-6; "
        "interval: normal interval after adding one promoter, one passive and one detractor "
        "(p' = (n p + 1) / (n + 3), d' = (n d + 1) / (n + 3), 100 * (p' - d' +/- 1.96 * "
        "sqrt((p' + d' - (p' - d')^2) / (n + 3))), clipped to -100..100)"
        + (", n the effective number of NPS answers" if weighted else ""),
        "shrinkage": {
            "method": "hierarchical normal model within each dimension and period: cell score "
            "~ N(true mean, within-group variance / n), true means ~ N(mu, tau^2), flat prior on "
            "mu, half-Cauchy prior on tau (scale: within-group SD); shrunk = posterior mean "
            "averaged over tau by quadrature; interval = shrunk +/- 1.96 * sqrt(posterior "
            "variance + (shrunk - score)^2)",
            "families": shrink_report,
        },
        "weighting": t.weighting,
        "min_group_size": k,
        "suppression": "primary: fewer than min_group_size respondents; secondary: the "
        "group's respondents are not whole disclosure blocks (every published figure is a sum "
        "over blocks of at least min_group_size respondents, so no combination of figures "
        "reveals a smaller group)",
        "suppressed_cells": len(hidden),
        "note": INTERVAL_NOTE,
    }
    return IndicatorResult(rows=rows, method=method)


def ranking(
    session: Session,
    *,
    campaign_id: int,
    weighted: bool = False,
    include_flagged: bool = False,
    min_group_size: int = 5,
    dimension_weights: dict[str, float] | None = None,
    seed: int = 20261125,
    area_code: str | None = None,
    month: str | None = None,
    unit_kind: str | None = None,
) -> IndicatorResult:
    """Composite index per unit (weighted mean of shrunk dimension scores) with rank ranges.

    ``area_code`` keeps the respondents of one area; ``month`` (YYYY-MM) ranks on that
    month's cells of the monthly table (suppressed across months, shrunk within the month);
    ``unit_kind`` ranks the units of one kind among themselves."""
    check_month(month)
    campaign = get_campaign(session, campaign_id)
    questions = campaign_questions(session, campaign=campaign)
    wts = composite_weights(campaign, questions, dimension_weights)
    dims = list(wts)
    filters = resolve_filters(session, unit_code=None, area_code=area_code, age_band=None, sex=None)
    t = build_table(
        session,
        campaign=campaign,
        by=["unit", "dimension"],
        period="month" if month else None,
        weighted=weighted,
        include_flagged=include_flagged,
        filters=filters,
        k=min_group_size,
    )
    hidden = suppression(t, min_group_size)
    shrunk, post, report = shrink_families(t, hidden)
    score, _sd, score_se = t.est["score"]
    labels = unit_names(session, t)["unit"] if t.keys else {}
    per_unit: dict[int, dict[str, int]] = {}
    for i, key in enumerate(t.keys):
        if month is None or str(key[2]).startswith(month):
            per_unit.setdefault(int(key[0]), {})[key[1]] = i
    if unit_kind:
        kept = lookups.units_of_kind(session, list(per_unit), unit_kind)
        per_unit = {uid: idx for uid, idx in per_unit.items() if uid in kept}
    wsum = sum(wts[d] for d in dims)
    shown: list[tuple[int, float, float, float, float]] = []
    rows_hidden: list[dict[str, Any]] = []
    for uid, idx in per_unit.items():
        code, name, name_en = labels.get(uid, (None, "", ""))
        used = [d for d in dims if wts[d] > 0]
        # Only the cells the index is made of decide: a suppressed cell the composite does not
        # use (the NPS question, a dimension weighted 0) must not withhold the unit.
        if not all(d in idx and t.keys[idx[d]] not in hidden for d in used):
            rows_hidden.append(
                {"unit_code": code, "unit_name": name, "unit_name_en": name_en, "suppressed": True}
            )
            continue
        idx_val = sum(wts[d] * shrunk[idx[d]] for d in used) / wsum
        # Dimensions are answered by the same people and correlate; adding the SEs (perfect
        # correlation) never overstates precision.
        idx_se = sum(wts[d] * post[idx[d]] for d in used) / wsum
        raw = sum(wts[d] * score[idx[d]] for d in used) / wsum
        n_min = min(int(t.n[idx[d]]) for d in used)
        shown.append((uid, float(idx_val), float(idx_se), float(raw), n_min))
    rows: list[dict[str, Any]] = []
    if shown:
        est = np.array([s[1] for s in shown])
        se = np.array([s[2] for s in shown])
        order = np.argsort(-est, kind="stable")
        # Competition ranking ("1, 2, 2, 4") on the index as published: equal indices share a
        # rank, which must not depend on the units' ids or on the order they were read in.
        shown_idx = np.round(est, 6)
        rank = 1 + (shown_idx[None, :] > shown_idx[:, None]).sum(axis=1)
        rng = np.random.default_rng(seed)
        draws = est[None, :] + rng.standard_normal((RANK_DRAWS, len(shown))) * se[None, :]
        # Rank 1 is the best: position of each unit when a draw is sorted from the top.
        order_d = np.argsort(-draws, axis=1)
        ranks = np.empty_like(order_d)
        np.put_along_axis(ranks, order_d, np.arange(1, len(shown) + 1)[None, :], axis=1)
        ranks.sort(axis=0)
        r_lo = ranks[int(np.ceil(0.025 * RANK_DRAWS)) - 1]
        r_hi = ranks[int(np.ceil(0.975 * RANK_DRAWS)) - 1]
        lo_ci, hi_ci = est - Z * se, est + Z * se
        # Plausible rank range from the intervals: a unit is placed behind only those whose
        # interval lies wholly above its own and ahead of only those wholly below, so two
        # units whose intervals overlap always have overlapping rank ranges.
        better = (lo_ci[None, :] > hi_ci[:, None]).sum(axis=1)
        not_worse = (hi_ci[None, :] >= lo_ci[:, None]).sum(axis=1)
        for j in order:
            uid, v, s, raw, n_min = shown[j]
            code, name, name_en = labels.get(uid, (None, "", ""))
            rows.append(
                {
                    "unit_code": code,
                    "unit_name": name,
                    "unit_name_en": name_en,
                    "n": n_min,
                    "index": rounded(v),
                    "ci_low": rounded(v - Z * s),
                    "ci_high": rounded(v + Z * s),
                    "raw_index": rounded(raw),
                    "rank": int(rank[j]),
                    "rank_low": int(1 + better[j]),
                    "rank_high": int(not_worse[j]),
                    "rank_low_sim": int(r_lo[j]),
                    "rank_high_sim": int(r_hi[j]),
                    "suppressed": False,
                }
            )
    rows += sorted(rows_hidden, key=lambda r: r["unit_code"] or "")
    method = {
        "index": "weighted mean of the units' shrunk dimension scores (0-100)",
        "dimension_weights": wts,
        "interval": "index +/- 1.96 * sum(w * sd_d) / sum(w), sd_d the shrunk score's "
        "interval half-width / 1.96 (posterior variance plus the squared shift from the raw "
        "score; conservative: dimensions treated as perfectly correlated)",
        "rank_range": "rank_low = 1 + units whose interval lies wholly above; rank_high = "
        "units whose interval is not wholly below (overlapping intervals never look ordered)",
        "rank_range_sim": f"2.5% and 97.5% quantiles of each unit's rank over {RANK_DRAWS} "
        "draws of all indices from their normal approximations (seeded)",
        "shrinkage": report,
        "weighted": weighted,
        "weighting": t.weighting,
        "include_flagged": include_flagged,
        "min_group_size": min_group_size,
        "note": INTERVAL_NOTE,
    }
    for name, value in (("area_code", area_code), ("month", month), ("unit_kind", unit_kind)):
        if value:
            method[name] = value
    return IndicatorResult(rows=rows, method=method)


def trends(
    session: Session,
    *,
    campaign_id: int,
    period: str = "month",
    weighted: bool = False,
    include_flagged: bool = False,
    min_group_size: int = 5,
    alpha: float = 0.05,
    month: str | None = None,
    by: str | Sequence[str] | None = ("unit", "dimension"),
    unit_code: str | None = None,
    area_code: str | None = None,
) -> IndicatorResult:
    """Score per group (unit and dimension by default) and period, with a test of each change
    between periods.

    ``month`` (YYYY-MM) keeps the periods that start in it, and the changes into them; the
    false discovery rate is still controlled over every change of the answer."""
    check_month(month)
    check_period(period)
    res = compute(
        session,
        campaign_id=campaign_id,
        by=by,
        period=period,
        weighted=weighted,
        include_flagged=include_flagged,
        min_group_size=min_group_size,
        unit_code=unit_code,
        area_code=area_code,
    )
    # A series is one group's rows over the periods; its keys are the row's grouping fields.
    names = [f"{f}_code" if f in ("unit", "area") else f for f in parse_by(by)]
    series: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in res.rows:
        series.setdefault(tuple(r[f] for f in names), []).append(r)
    changes: list[dict[str, Any]] = []
    pairs: list[tuple[dict[str, Any], dict[str, Any]]] = []
    ordered = sorted(series.items(), key=lambda kv: tuple("" if v is None else v for v in kv[0]))
    for key, rows in ordered:
        group = dict(zip(names, key, strict=True))
        rows.sort(key=lambda r: r["period"])
        for a, b in zip(rows, rows[1:], strict=False):
            change: dict[str, Any] = {**group, "from": a["period"], "to": b["period"]}
            changes.append(change)
            if a["suppressed"] or b["suppressed"]:
                change["suppressed"] = True
            else:
                pairs.append((a, b))
    tested = [c for c in changes if "suppressed" not in c]
    if pairs:
        col = {
            f: np.array(
                [[float(r[f]) if r[f] is not None else np.nan for r in pair] for pair in pairs]
            )
            for f in ("score", "score_se", "n_eff", "df", "n")
        }
        diff = col["score"][:, 1] - col["score"][:, 0]
        # The permutation rule for two constant periods counts exchangeable respondents, and
        # never more than the effective size, so weights cannot make it bolder.
        whole = np.minimum(col["n"], np.floor(col["n_eff"]))
        t_stat, df, p = change_test(
            diff,
            col["score_se"][:, 0],
            col["score_se"][:, 1],
            col["df"][:, 0] + 1,
            col["df"][:, 1] + 1,
            whole[:, 0],
            whole[:, 1],
        )
        se = np.hypot(col["score_se"][:, 0], col["score_se"][:, 1])
        for i, c in enumerate(tested):
            a, b = pairs[i]
            c.update(
                score_from=a["score"],
                score_to=b["score"],
                change=rounded(diff[i]),
                se=rounded(se[i]),
                t=rounded(t_stat[i]),
                df=rounded(df[i], 4),
                test="permutation" if np.isinf(t_stat[i]) else "welch",
                p_value=rounded(p[i], 8),
                suppressed=False,
            )
    q = benjamini_hochberg(np.array([c["p_value"] for c in tested], dtype=float))
    for c, qv in zip(tested, q, strict=True):
        c["q_value"] = rounded(qv, 8)
        c["alert"] = bool(qv < alpha)
        c["direction"] = "up" if (c["change"] or 0) > 0 else "down"
    method = dict(res.method)
    method["test"] = (
        "two-sided Welch t test of the change in score between consecutive periods "
        "(Welch-Satterthwaite degrees of freedom from each period's SE and its df: n_eff - 1, "
        "or (sum w^2)^2 / sum w^4 - 1 when weighted); when "
        "neither period has any spread and the scores differ, the exact permutation test over "
        "respondents (p = 1 / C(n1 + n2, n1), doubled when n1 = n2); Benjamini-Hochberg "
        f"false discovery rate {alpha} across all tested changes"
    )
    if month is None:
        return IndicatorResult(rows=res.rows, method=method, changes=changes)
    method["month"] = month
    return IndicatorResult(
        rows=in_month(res.rows, month), method=method, changes=in_month(changes, month, "to")
    )
