"""Statistics on the counts: means, intervals, scores, shrinkage, weighting, ranks and trends.

Plain functions shared by the API and the dashboard: ``compute`` (indicator rows),
``ranking`` (composite index with rank ranges) and ``trends`` (changes between periods with a
test). Every figure comes from counts per scale point (see ``analytics.queries``), so nothing
here scans raw answers. The method and its parameters are returned with the rows.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats as sps
from sqlalchemy import false, func, select
from sqlmodel import Session

from analytics import cube, privacy
from analytics.queries import (
    PERIODS,
    Counts,
    Filters,
    QuestionInfo,
    campaign_questions,
    choose_source,
    fetch_counts,
    unit_labels,
)
from service.db import get_or_404
from service.errors import Invalid
from surveys.forms.models import Campaign
from surveys.forms.stats import RESPONSE_KEY, StatCell
from surveys.units.models import Unit

BY_FIELDS = ("unit", "dimension", "area", "age_band", "sex")
CONFIDENCE = 0.95
Z = float(sps.norm.ppf(0.5 + CONFIDENCE / 2))
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


@dataclass
class _Groups:
    """Per-group moments of a table (internal)."""

    fields: list[str]
    keys: list[tuple[Any, ...]]
    n: np.ndarray  # respondents (for privacy)
    n_answers: np.ndarray
    n_eff: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    mixed_scale: np.ndarray
    est: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]  # var -> (mean, sd, se)
    nps: tuple[np.ndarray, np.ndarray, np.ndarray]  # (value, se, answers)
    weighting: dict[str, Any] | None = None
    source: str = ""
    labels: dict[str, dict[int, tuple[str, str, str]]] = field(default_factory=dict)


# --- parsing -------------------------------------------------------------------------------


def parse_by(by: str | Sequence[str] | None) -> list[str]:
    """Validate a ``by`` list (comma-separated or a sequence) of grouping fields."""
    if by is None:
        return ["unit", "dimension"]
    items = [b.strip() for b in (by.split(",") if isinstance(by, str) else by) if b.strip()]
    bad = [b for b in items if b not in BY_FIELDS]
    if bad:
        raise Invalid.field(
            ("query", "by"), f"unknown field(s) {', '.join(bad)}; use {', '.join(BY_FIELDS)}"
        )
    if len(set(items)) != len(items):
        raise Invalid.field(("query", "by"), "a field is repeated")
    return items


def parse_weights(text: str | None) -> dict[str, float] | None:
    """Parse dimension weights given as ``dim:weight,dim:weight`` (None when not given)."""
    if not text:
        return None
    out: dict[str, float] = {}
    for part in text.split(","):
        name, sep, value = part.partition(":")
        try:
            weight = float(value)
        except ValueError:
            weight = math.nan
        if not sep or not name.strip() or not math.isfinite(weight):
            raise Invalid.field(("query", "weights"), "use dimension:weight pairs, e.g. results:2")
        out[name.strip()] = weight
    return out


def _check_period(period: str | None) -> None:
    if period is not None and period not in PERIODS:
        raise Invalid.field(("query", "period"), f"use one of {', '.join(PERIODS)}")


# One calendar month, YYYY-MM: the routes' query patterns are built from it too.
MONTH_PATTERN = r"\d{4}-(0[1-9]|1[0-2])"
MONTH = re.compile(f"^{MONTH_PATTERN}$")


def check_month(month: str | None) -> None:
    """422 unless month is None or YYYY-MM."""
    if month is not None and not MONTH.match(month):
        raise Invalid.field(("query", "month"), "use a month as YYYY-MM")


def in_month(rows: list[dict[str, Any]], month: str, key: str = "period") -> list[dict[str, Any]]:
    """The rows whose period starts in the month: period labels are YYYY-MM-DD (a day, or the
    Monday of a week) or YYYY-MM, so the month is their prefix."""
    return [r for r in rows if str(r[key]).startswith(month)]


def get_campaign(session: Session, campaign_id: int) -> Campaign:
    """The campaign or 404."""
    return get_or_404(session, Campaign, campaign_id, "Campaign")


# --- grouping helpers ----------------------------------------------------------------------


def _codes(col: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted unique values, code of each row)."""
    u, inv = np.unique(col, return_inverse=True)
    return u, inv.astype(np.int64).reshape(-1)


def _group(
    columns: list[tuple[np.ndarray, np.ndarray]], size: int
) -> tuple[np.ndarray, list[tuple[Any, ...]]]:
    """Group rows by coded columns [(uniques, codes)]: (group per row, key tuple per group)."""
    if not columns:
        return np.zeros(size, dtype=np.int64), [()]
    if size == 0:
        return np.zeros(0, dtype=np.int64), []
    dims = tuple(max(len(u), 1) for u, _c in columns)
    combined = np.ravel_multi_index([c for _u, c in columns], dims)
    ug, ginv = np.unique(combined, return_inverse=True)
    parts = np.unravel_index(ug, dims)
    values = [np.asarray(u)[p].tolist() for (u, _c), p in zip(columns, parts, strict=True)]
    return ginv.astype(np.int64).reshape(-1), list(zip(*values, strict=True))


def _moments(
    g: np.ndarray, size: int, cnt: np.ndarray, wn: np.ndarray, w2n: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted mean, sd and Taylor-linearised SE per group (plain mean/sd/SE when w == 1).

    Rows carry the number of answers ``cnt``, the sums of their weights ``wn`` and squared
    weights ``w2n``, and one value ``y``. SE^2 = n/(n-1) * sum w^2 (y - mean)^2 / (sum w)^2.
    """
    n = np.bincount(g, weights=cnt, minlength=size)
    sw = np.bincount(g, weights=wn, minlength=size)
    swy = np.bincount(g, weights=wn * y, minlength=size)
    swy2 = np.bincount(g, weights=wn * y * y, minlength=size)
    sw2 = np.bincount(g, weights=w2n, minlength=size)
    sw2y = np.bincount(g, weights=w2n * y, minlength=size)
    sw2y2 = np.bincount(g, weights=w2n * y * y, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = swy / sw
        corr = n / (n - 1)
        var_pop = np.maximum(swy2 / sw - mean * mean, 0.0)
        sd = np.sqrt(var_pop * corr)
        resid = np.maximum(sw2y2 - 2 * mean * sw2y + mean * mean * sw2, 0.0)
        se = np.sqrt(corr * resid) / sw
    return mean, sd, se


# --- weighting -----------------------------------------------------------------------------


def rake(
    cells: list[tuple[int, str, str]],
    counts: np.ndarray,
    margins: dict[str, dict[Any, float]],
    *,
    max_iter: int = 500,
    tol: float = 1e-10,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Raking (iterative proportional fitting) of cell weights to one-way population margins.

    ``cells`` are (area_id, age_band, sex) with ``counts`` respondents each; ``margins`` map a
    field to {category: population share}. Cells outside the margins keep weight 1. Returns a
    weight per respondent of each cell (mean 1 over raked respondents) and a report.
    """
    fields = [f for f in ("area", "age_band", "sex") if margins.get(f)]
    pos = {"area": 0, "age_band": 1, "sex": 2}
    counts = counts.astype(float)
    inside = (
        np.array([all(c[pos[f]] in margins[f] for f in fields) for c in cells], dtype=bool)
        if cells
        else np.zeros(0, dtype=bool)
    )
    w = np.ones(len(cells))
    total = counts[inside].sum()
    report: dict[str, Any] = {"fields": fields, "iterations": 0, "converged": True, "dropped": {}}
    if not fields or total <= 0:
        return w, report
    targets: dict[str, dict[Any, float]] = {}
    for f in fields:
        present = {c[pos[f]] for c, ok in zip(cells, inside, strict=True) if ok}
        shares = {k: float(v) for k, v in margins[f].items() if k in present and float(v) > 0}
        missing = sorted(str(k) for k in margins[f] if k not in shares)
        if missing:
            report["dropped"][f] = missing
        s = sum(shares.values())
        targets[f] = {k: v / s * total for k, v in shares.items()}
    member = {f: np.array([c[pos[f]] for c in cells], dtype=object) for f in fields}
    converged = False
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007
        worst = 0.0
        for f in fields:
            for cat, target in targets[f].items():
                sel = inside & (member[f] == cat)
                cur = float((w[sel] * counts[sel]).sum())
                if cur <= 0:
                    continue
                ratio = target / cur
                worst = max(worst, abs(ratio - 1.0))
                w[sel] *= ratio
        if worst < tol:
            converged = True
            break
    report["iterations"] = it
    report["converged"] = converged
    return w, report


def _cell_weights(
    session: Session, campaign: Campaign, include_flagged: bool
) -> tuple[dict[tuple[int, str, str], float], dict[str, Any]]:
    """Raking weights per (area, age band, sex) cell, from the campaign's respondents."""
    margins = dict(campaign.margins or {})
    if not margins:
        raise Invalid.field(
            ("query", "weighted"), "this campaign has no population margins to weight to"
        )
    c = StatCell.__table__.c  # type: ignore[attr-defined]
    stmt = select(c.area_unit_id, c.age_band, c.sex, func.sum(c.n)).where(
        c.campaign_id == campaign.id, c.question_key == RESPONSE_KEY
    )
    if not include_flagged:
        stmt = stmt.where(c.flagged == false())
    rows = session.execute(stmt.group_by(c.area_unit_id, c.age_band, c.sex)).all()
    rows = sorted(rows, key=lambda r: (r[0], r[1], r[2]))
    area_margin = margins.get("area") or {}
    codes = {}
    if area_margin:
        found = session.execute(
            select(Unit.code, Unit.id).where(Unit.code.in_(list(area_margin)))  # type: ignore[attr-defined]
        ).all()
        codes = {code: uid for code, uid in found}
    by_id = {codes[k]: v for k, v in area_margin.items() if k in codes}
    norm = {
        "area": by_id,
        "age_band": margins.get("age_band") or {},
        "sex": margins.get("sex") or {},
    }
    cells = [(int(r[0]), str(r[1]), str(r[2])) for r in rows]
    counts = np.array([int(r[3]) for r in rows], dtype=float)
    w, report = rake(cells, counts, norm)
    n = counts.sum()
    report["n"] = int(n)
    report["n_eff"] = float((w * counts).sum() ** 2 / (w * w * counts).sum()) if n else 0.0
    report["weight_min"] = float(w.min()) if len(w) else None
    report["weight_max"] = float(w.max()) if len(w) else None
    if "area" in report.get("dropped", {}):
        report["dropped"]["area"] = sorted(
            str(k) for k in area_margin if k not in codes or codes[k] in report["dropped"]["area"]
        )
    return {cell: float(x) for cell, x in zip(cells, w, strict=True)}, report


# --- the table of groups -------------------------------------------------------------------


def _table(
    session: Session,
    *,
    campaign: Campaign,
    by: list[str],
    period: str | None,
    weighted: bool,
    include_flagged: bool,
    filters: Filters,
) -> _Groups:
    questions = campaign_questions(session, campaign=campaign)
    group_fields = list(by) + (["period"] if period else [])
    sql_fields = [f for f in group_fields if f != "dimension"]
    weighting = None
    weights = None
    if weighted:
        weights, weighting = _cell_weights(session, campaign, include_flagged)
    cid = int(campaign.id)  # type: ignore[arg-type]
    source = choose_source(sql_fields, filters, weighted=weighted)
    if source == "columns":
        counts = cube.counts(
            session,
            campaign_id=cid,
            fields=sql_fields,
            period=period,
            include_flagged=include_flagged,
            filters=filters,
            weights=weights,
        )
    else:
        counts = fetch_counts(
            session,
            campaign_id=cid,
            fields=sql_fields,
            period=period,
            include_flagged=include_flagged,
            filters=filters,
            weights=weights,
        )
    return _groups(counts, questions, by, group_fields, weighting)


def _groups(
    counts: Counts,
    questions: dict[str, QuestionInfo],
    by: list[str],
    group_fields: list[str],
    weighting: dict[str, Any] | None,
) -> _Groups:
    size_all = len(counts)
    coded = {f: _codes(np.asarray(col)) for f, col in counts.keys.items()}
    uq, qcode = _codes(np.asarray(counts.question, dtype=object))
    # Deterministic order, so both databases sum in the same order and give identical floats.
    order = np.lexsort([counts.value, qcode] + [c for _u, c in coded.values()][::-1])
    if size_all == 0:
        order = np.zeros(0, dtype=np.int64)
    coded = {f: (u, c[order]) for f, (u, c) in coded.items()}
    qcode = qcode[order]
    v = counts.value[order]
    n = counts.n[order].astype(float)
    wn = counts.wn[order]
    w2n = counts.w2n[order]

    # Question attributes, looked up once per distinct question and spread by code.
    infos = [questions.get(str(k)) for k in uq.tolist()]
    is_resp = np.array([str(k) == RESPONSE_KEY for k in uq.tolist()], dtype=bool)[qcode]
    kind_u = np.array([i.type if i else "" for i in infos], dtype=object)
    dim_u = np.array([i.dimension if i else "" for i in infos], dtype=object)
    lo = np.array([i.scale_min if i else 0.0 for i in infos], dtype=float)[qcode]
    hi = np.array([i.scale_max if i else 1.0 for i in infos], dtype=float)[qcode]
    kind = kind_u[qcode]
    by_dim = "dimension" in by
    stat_rows = (kind == "rating") | ((kind == "nps") & by_dim)
    nps_rows = kind == "nps"
    dim_codes = _codes(dim_u[qcode]) if size_all else (np.zeros(0, dtype=object), qcode)

    def cols(mask: np.ndarray, with_dim: bool) -> list[tuple[np.ndarray, np.ndarray]]:
        out = []
        for f in group_fields:
            if f == "dimension":
                if with_dim:
                    out.append((dim_codes[0], dim_codes[1][mask]))
            else:
                u, c = coded[f]
                out.append((u, c[mask]))
        return out

    g, keys = _group(cols(stat_rows, True), int(stat_rows.sum()))
    size = len(keys)
    sn, swn, sw2n, sv = n[stat_rows], wn[stat_rows], w2n[stat_rows], v[stat_rows]
    slo, shi = lo[stat_rows], hi[stat_rows]
    score = 100.0 * (sv - slo) / (shi - slo)
    top = (sv >= shi - 1).astype(float)
    skind = kind[stat_rows]
    est = {
        "value": _moments(g, size, sn, swn, sw2n, sv),
        "score": _moments(g, size, sn, swn, sw2n, score),
        "top": _moments(g, size, sn, swn, sw2n, top),
    }
    n_answers = np.bincount(g, weights=sn, minlength=size)
    sw_tot = np.bincount(g, weights=swn, minlength=size)
    sw2_tot = np.bincount(g, weights=sw2n, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        n_eff = sw_tot**2 / sw2_tot
    gmin = np.full(size, np.inf)
    gmax = np.full(size, -np.inf)
    lo_max = np.full(size, -np.inf)
    hi_min = np.full(size, np.inf)
    np.minimum.at(gmin, g, slo)
    np.maximum.at(gmax, g, shi)
    np.maximum.at(lo_max, g, slo)
    np.minimum.at(hi_min, g, shi)
    mixed = (gmin != lo_max) | (gmax != hi_min)

    # Respondents per group: the most answers to one question of the group when grouped by
    # dimension (a lower bound of its respondents, so suppression errs on the safe side),
    # otherwise every response of the group.
    if by_dim:
        sq = qcode[stat_rows]
        qg, qkeys = _group([(np.arange(max(size, 1)), g), (uq, sq)], int(stat_rows.sum()))
        per_q = np.bincount(qg, weights=sn, minlength=len(qkeys))
        resp_n = np.zeros(size)
        if qkeys:
            np.maximum.at(resp_n, np.array([k[0] for k in qkeys], dtype=np.int64), per_q)
    else:
        rg, rkeys = _group(cols(is_resp, False), int(is_resp.sum()))
        rn = np.bincount(rg, weights=n[is_resp], minlength=len(rkeys))
        lookup = dict(zip(rkeys, rn.tolist(), strict=True))
        resp_n = np.array([lookup.get(k, 0.0) for k in keys], dtype=float)

    # NPS: its own dimension when grouped by dimension, else attached to each row.
    nps_val = np.full(size, np.nan)
    nps_se = np.full(size, np.nan)
    nps_cnt = np.zeros(size)
    if by_dim:
        npsy = np.where(skind == "nps", (sv >= 9).astype(float) - (sv <= 6), 0.0)
        isn = np.bincount(g, weights=(skind == "nps").astype(float), minlength=size) > 0
        m, _sd, se = _moments(g, size, sn, swn, sw2n, npsy)
        nps_val = np.where(isn, 100 * m, np.nan)
        nps_se = np.where(isn, 100 * se, np.nan)
        nps_cnt = np.where(isn, n_answers, 0.0)
    elif nps_rows.any():
        pg, pkeys = _group(cols(nps_rows, False), int(nps_rows.sum()))
        pv = v[nps_rows]
        py = (pv >= 9).astype(float) - (pv <= 6)
        m, _sd, se = _moments(pg, len(pkeys), n[nps_rows], wn[nps_rows], w2n[nps_rows], py)
        pc = np.bincount(pg, weights=n[nps_rows], minlength=len(pkeys))
        lk = {k: i for i, k in enumerate(pkeys)}
        for i, k in enumerate(keys):
            j = lk.get(k)
            if j is not None:
                nps_val[i], nps_se[i], nps_cnt[i] = 100 * m[j], 100 * se[j], pc[j]
    if not by_dim:
        # Pooled rows hold several answers per respondent, which correlate: count respondents
        # rather than answers for the precision (conservative: as if perfectly correlated).
        with np.errstate(invalid="ignore", divide="ignore"):
            inflate = np.sqrt(np.maximum(n_answers / np.maximum(resp_n, 1.0), 1.0))
        est = {k: (m_, sd_, se_ * inflate) for k, (m_, sd_, se_) in est.items()}
        n_eff = n_eff / inflate**2
    return _Groups(
        fields=group_fields,
        keys=keys,
        n=resp_n,
        n_answers=n_answers,
        n_eff=n_eff,
        lo=gmin,
        hi=gmax,
        mixed_scale=mixed,
        est=est,
        nps=(nps_val, nps_se, nps_cnt),
        weighting=weighting,
        source=counts.source,
    )


# --- shrinkage -----------------------------------------------------------------------------


def shrink(
    mean: np.ndarray, sd: np.ndarray, n: np.ndarray
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Empirical-Bayes (normal-normal) shrinkage of group means toward their overall mean.

    Prior strength ``kappa = sigma2 / tau2``: the pooled within-group variance over the
    between-group variance of true means (DerSimonian-Laird method of moments). Each mean moves
    toward the overall mean by ``kappa / (n + kappa)``. Returns (shrunk, posterior sd, params).
    """
    ok = (n >= 2) & np.isfinite(mean) & np.isfinite(sd)
    params: dict[str, Any] = {"groups": int(ok.sum())}
    if ok.sum() < 3:
        params["applied"] = False
        params["reason"] = "fewer than 3 groups: the spread between groups cannot be estimated"
        with np.errstate(invalid="ignore", divide="ignore"):
            return mean.copy(), sd / np.sqrt(n), params
    m, s, k = mean[ok], sd[ok], n[ok]
    sigma2 = float(((k - 1) * s * s).sum() / (k - 1).sum())
    if sigma2 <= 0:
        # Every answer the same within each group: the means carry no sampling noise to
        # shrink away, so they stand as they are (and the weights below would be infinite).
        params.update(applied=False, sigma2_within=0.0, kappa=None)
        params["reason"] = "no spread within groups: the group means are kept unshrunk"
        with np.errstate(invalid="ignore", divide="ignore"):
            return mean.copy(), sd / np.sqrt(n), params
    # DerSimonian-Laird moment estimator: precision weights n / sigma2, so a handful of
    # answers cannot inflate the between-group spread on their own.
    with np.errstate(invalid="ignore", divide="ignore"):
        prec = k / sigma2
        mu = float((prec * m).sum() / prec.sum())
        q_stat = float((prec * (m - mu) ** 2).sum())
        denom = float(prec.sum() - (prec * prec).sum() / prec.sum())
        tau2 = max(0.0, (q_stat - (len(m) - 1)) / denom)
    params.update(applied=True, overall_mean=mu, sigma2_within=sigma2, tau2_between=tau2)
    if tau2 <= 0:
        params["kappa"] = None
        params["note"] = "no detectable difference between groups: every estimate equals the mean"
        return np.full_like(mean, mu), np.full_like(mean, math.sqrt(sigma2 / k.sum())), params
    kappa = sigma2 / tau2
    params["kappa"] = kappa
    with np.errstate(invalid="ignore", divide="ignore"):
        shrunk = mu + (mean - mu) * n / (n + kappa)
        post_sd = np.sqrt(sigma2 * tau2 / (n * tau2 + sigma2))
    return shrunk, post_sd, params


# --- intervals -----------------------------------------------------------------------------


def wilson(p: float, n: float, z: float = Z) -> tuple[float, float]:
    """Wilson score interval for a proportion p out of n (n may be an effective size)."""
    if n <= 0 or not math.isfinite(p):
        return (math.nan, math.nan)
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def _t(df: float) -> float:
    return float(sps.t.ppf(0.5 + CONFIDENCE / 2, df)) if df >= 1 else math.nan


def _col(x: np.ndarray, nd: int = 6) -> list[float | None]:
    """A numpy column as rounded floats, None where not finite."""
    arr = np.asarray(x, dtype=float)
    return [v if math.isfinite(v) else None for v in np.round(arr, nd).tolist()]


def _r(x: Any, nd: int = 6) -> float | None:
    if x is None:
        return None
    x = float(x)
    return round(x, nd) if math.isfinite(x) else None


# --- public functions ----------------------------------------------------------------------


def _filters(
    session: Session,
    *,
    unit_code: str | None,
    area_code: str | None,
    age_band: str | None,
    sex: str | None,
) -> Filters:
    f = Filters(age_band=age_band or None, sex=sex or None)
    for name, code in (("unit_code", unit_code), ("area_code", area_code)):
        if code:
            uid = session.execute(select(Unit.id).where(Unit.code == code)).scalar()
            if uid is None:
                raise Invalid.field(("query", name), f"unknown unit code '{code}'")
            if name == "unit_code":
                f.unit_id = int(uid)
            else:
                f.area_id = int(uid)
    return f


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
    _check_period(period)
    campaign = get_campaign(session, campaign_id)
    filters = _filters(
        session, unit_code=unit_code, area_code=area_code, age_band=age_band, sex=sex
    )
    t = _table(
        session,
        campaign=campaign,
        by=fields,
        period=period,
        weighted=weighted,
        include_flagged=include_flagged,
        filters=filters,
    )
    return _rows(session, t, fields, period, weighted, include_flagged, min_group_size)


def _shrink_families(t: _Groups) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    """Shrink within each family (same dimension and period) across the other grouping keys."""
    fam_pos = [i for i, f in enumerate(t.fields) if f in ("dimension", "period")]
    ent_pos = [i for i, f in enumerate(t.fields) if f not in ("dimension", "period")]
    mean, sd, se = t.est["score"]
    n = t.n_eff
    if not ent_pos:
        return mean.copy(), se.copy(), [{"applied": False, "reason": "nothing to compare"}]
    shrunk = np.full(len(t.keys), np.nan)
    post = np.full(len(t.keys), np.nan)
    fams: dict[tuple[Any, ...], list[int]] = {}
    for i, k in enumerate(t.keys):
        fams.setdefault(tuple(k[p] for p in fam_pos), []).append(i)
    report = []
    for fk, idx in sorted(fams.items(), key=lambda kv: repr(kv[0])):
        ix = np.array(idx)
        s_, p_, params = shrink(mean[ix], sd[ix], n[ix])
        shrunk[ix], post[ix] = s_, p_
        report.append(
            {"family": dict(zip([t.fields[p] for p in fam_pos], fk, strict=True)), **params}
        )
    return shrunk, post, report


def _labels(session: Session, t: _Groups) -> dict[str, dict[int, tuple[str, str, str]]]:
    out: dict[str, dict[int, tuple[str, str, str]]] = {}
    for f in ("unit", "area"):
        if f in t.fields:
            i = t.fields.index(f)
            out[f] = unit_labels(session, [k[i] for k in t.keys])
    return out


def _suppression(t: _Groups, k: int) -> dict[tuple[Any, ...], str]:
    cells = {key: int(n) for key, n in zip(t.keys, t.n, strict=True)}
    return privacy.suppress(cells, k=k)


def _rows(
    session: Session,
    t: _Groups,
    fields: list[str],
    period: str | None,
    weighted: bool,
    include_flagged: bool,
    k: int,
) -> IndicatorResult:
    hidden = _suppression(t, k)
    shrunk, post, shrink_report = _shrink_families(t)
    labels = _labels(session, t)
    vm, vsd, vse = t.est["value"]
    sm, _ssd, sse = t.est["score"]
    tm, _tsd, _tse = t.est["top"]
    nps_val, nps_se, nps_cnt = t.nps
    with np.errstate(invalid="ignore"):
        t_all = np.where(
            t.n_eff >= 2, sps.t.ppf(0.5 + CONFIDENCE / 2, np.maximum(t.n_eff - 1, 1)), np.nan
        )
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
    cols = {
        "n_eff": _col(neff, 2),
        "mean": _col(mean),
        "sd": _col(np.where(np.isfinite(mean), vsd, np.nan)),
        "ci_low": _col(mean - t_all * vse),
        "ci_high": _col(mean + t_all * vse),
        "scale_min": _col(t.lo),
        "scale_max": _col(t.hi),
        "score": _col(sm),
        "score_se": _col(sse),
        "score_ci_low": _col(sm - t_all * sse),
        "score_ci_high": _col(sm + t_all * sse),
        "shrunk_score": _col(shrunk),
        "shrunk_ci_low": _col(shrunk - Z * post),
        "shrunk_ci_high": _col(shrunk + Z * post),
        "satisfaction_rate": _col(tm),
        "satisfaction_ci_low": _col(np.maximum(0.0, centre - whalf)),
        "satisfaction_ci_high": _col(np.minimum(1.0, centre + whalf)),
        "nps": _col(nps_v),
        "nps_ci_low": _col(np.maximum(-100.0, nps_v - Z * nps_se)),
        "nps_ci_high": _col(np.minimum(100.0, nps_v + Z * nps_se)),
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
            "Taylor-linearised (design-based) standard error of the weighted mean, t with n_eff-1 df"
            if weighted
            else "t interval: mean +/- t(n-1) * sd / sqrt(n)"
        ),
        "proportion_interval": "Wilson score interval"
        + (" on the effective sample size" if weighted else ""),
        "score": "100 * (answer - scale_min) / (scale_max - scale_min), averaged",
        "satisfaction": "share of answers in the top two points of the scale",
        "nps": "% answers 9-10 minus % answers 0-6, normal interval",
        "shrinkage": {
            "method": "empirical Bayes, normal-normal: shrunk = mean + (score - mean) * n / (n + kappa), "
            "kappa = within-group variance / between-group variance (DerSimonian-Laird moments), "
            "within each dimension and period",
            "families": shrink_report,
        },
        "weighting": t.weighting,
        "min_group_size": k,
        "suppression": "primary: fewer than min_group_size respondents; secondary: in every "
        "line of the table at least two suppressed cells holding min_group_size respondents",
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
) -> IndicatorResult:
    """Composite index per unit (weighted mean of shrunk dimension scores) with rank ranges."""
    campaign = get_campaign(session, campaign_id)
    questions = campaign_questions(session, campaign=campaign)
    dims = sorted({q.dimension for q in questions.values() if q.type == "rating"})
    weights_in = (
        dimension_weights if dimension_weights is not None else (campaign.dimension_weights or {})
    )
    bad = [d for d in weights_in if d not in dims]
    if bad:
        raise Invalid.field(("query", "weights"), f"unknown dimension(s): {', '.join(bad)}")
    wts = {d: float(weights_in.get(d, 1.0)) for d in dims}
    if any(x < 0 for x in wts.values()) or (dims and sum(wts.values()) <= 0):
        raise Invalid.field(("query", "weights"), "weights must be >= 0 and not all zero")
    t = _table(
        session,
        campaign=campaign,
        by=["unit", "dimension"],
        period=None,
        weighted=weighted,
        include_flagged=include_flagged,
        filters=Filters(),
    )
    hidden = _suppression(t, min_group_size)
    shrunk, post, report = _shrink_families(t)
    score, _sd, score_se = t.est["score"]
    labels = _labels(session, t)["unit"] if t.keys else {}
    per_unit: dict[int, dict[str, int]] = {}
    for i, (uid, dim) in enumerate(t.keys):
        per_unit.setdefault(int(uid), {})[dim] = i
    wsum = sum(wts[d] for d in dims)
    shown: list[tuple[int, float, float, float, float]] = []
    rows_hidden: list[dict[str, Any]] = []
    for uid, idx in per_unit.items():
        code, name, name_en = labels.get(uid, (None, "", ""))
        complete = all(d in idx for d in dims if wts[d] > 0)
        if not complete or any(t.keys[i] in hidden for i in idx.values()):
            rows_hidden.append(
                {"unit_code": code, "unit_name": name, "unit_name_en": name_en, "suppressed": True}
            )
            continue
        used = [d for d in dims if wts[d] > 0]
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
        rank = np.empty(len(shown), dtype=int)
        rank[order] = np.arange(1, len(shown) + 1)
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
                    "index": _r(v),
                    "ci_low": _r(v - Z * s),
                    "ci_high": _r(v + Z * s),
                    "raw_index": _r(raw),
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
        "interval": "index +/- 1.96 * sum(w * posterior sd) / sum(w) (conservative: "
        "dimensions treated as perfectly correlated)",
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
    return IndicatorResult(rows=rows, method=method)


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (false discovery rate)."""
    m = len(p)
    if m == 0:
        return p
    order = np.argsort(p)
    ranked = p[order] * m / np.arange(1, m + 1)
    adj = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return out


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
) -> IndicatorResult:
    """Score per unit, dimension and period, with a test of each change between periods.

    ``month`` (YYYY-MM) keeps the periods that start in it, and the changes into them; the
    false discovery rate is still controlled over every change of the campaign."""
    check_month(month)
    _check_period(period)
    res = compute(
        session,
        campaign_id=campaign_id,
        by=["unit", "dimension"],
        period=period,
        weighted=weighted,
        include_flagged=include_flagged,
        min_group_size=min_group_size,
    )
    series: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in res.rows:
        series.setdefault((r["unit_code"], r["dimension"]), []).append(r)
    changes: list[dict[str, Any]] = []
    for (code, dim), rows in sorted(series.items()):
        rows.sort(key=lambda r: r["period"])
        for a, b in zip(rows, rows[1:], strict=False):
            if a["suppressed"] or b["suppressed"]:
                changes.append(
                    {
                        "unit_code": code,
                        "dimension": dim,
                        "from": a["period"],
                        "to": b["period"],
                        "suppressed": True,
                    }
                )
                continue
            se_a, se_b = a["score_se"], b["score_se"]
            diff = b["score"] - a["score"]
            se = math.sqrt(se_a**2 + se_b**2)
            z = diff / se if se > 0 else 0.0
            changes.append(
                {
                    "unit_code": code,
                    "dimension": dim,
                    "from": a["period"],
                    "to": b["period"],
                    "score_from": a["score"],
                    "score_to": b["score"],
                    "change": _r(diff),
                    "se": _r(se),
                    "z": _r(z),
                    "p_value": _r(2 * sps.norm.sf(abs(z)), 8),
                    "suppressed": False,
                }
            )
    tested = [c for c in changes if not c["suppressed"]]
    q = benjamini_hochberg(np.array([c["p_value"] for c in tested], dtype=float))
    for c, qv in zip(tested, q, strict=True):
        c["q_value"] = _r(qv, 8)
        c["alert"] = bool(qv < alpha)
        c["direction"] = "up" if c["change"] > 0 else "down"
    method = dict(res.method)
    method["test"] = (
        "two-sided z test of the change in score between consecutive periods, "
        f"Benjamini-Hochberg false discovery rate {alpha} across all tested changes"
    )
    if month is None:
        return IndicatorResult(rows=res.rows, method=method, changes=changes)
    method["month"] = month
    return IndicatorResult(
        rows=in_month(res.rows, month), method=method, changes=in_month(changes, month, "to")
    )
