"""The table of groups: counts per scale point -> per-group moments, respondents and NPS.

Every view (indicators, ranking, trends) starts from one such table: ``build_table`` reads
the counts (from ``stat_unit`` or the columnar copy), ``groups_from_counts`` turns them into
moments per key, and ``shrink_families`` shrinks the scores within each dimension and period.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlmodel import Session

from analytics.indicators import cube
from analytics.indicators.disclosure import PRIMARY, SECONDARY
from analytics.indicators.queries import (
    Counts,
    Filters,
    QuestionInfo,
    campaign_questions,
    choose_source,
    fetch_counts,
    unit_labels,
)
from analytics.indicators.statistics import factorize, group_keys, moments, shrink
from analytics.indicators.weighting import cell_weights, with_usage
from service.db import stored_id
from surveys.forms.models import Campaign
from surveys.forms.stats import RESPONSE_KEY


@dataclass
class Groups:
    """Per-group moments of a table: one entry per key of the grouping fields."""

    fields: list[str]
    keys: list[tuple[Any, ...]]
    n: np.ndarray  # respondents (for privacy)
    n_answers: np.ndarray
    n_eff: np.ndarray
    # The size whose n - 1 is the degrees of freedom of the SE: (sum w^2)^2 / sum w^4 per
    # respondent (Satterthwaite), which is n_eff when unweighted and smaller when weighted.
    n_df: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    mixed_scale: np.ndarray
    est: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]  # var -> (mean, sd, se)
    nps: tuple[np.ndarray, np.ndarray, np.ndarray]  # (value, se, answers)
    # (promoters' share, detractors' share, effective number of NPS answers), for the interval.
    nps_parts: tuple[np.ndarray, np.ndarray, np.ndarray] = field(
        default_factory=lambda: (np.zeros(0), np.zeros(0), np.zeros(0))
    )
    weighting: dict[str, Any] | None = None
    source: str = ""
    # Keys (without the dimension) of the groups that are whole disclosure blocks.
    published: dict[tuple[Any, ...], int] = field(default_factory=dict)
    labels: dict[str, dict[int, tuple[str, str, str]]] = field(default_factory=dict)


def build_table(
    session: Session,
    *,
    campaign: Campaign,
    by: list[str],
    period: str | None,
    weighted: bool,
    include_flagged: bool,
    filters: Filters,
    k: int,
) -> Groups:
    """The campaign's counts under the filters, grouped by ``by`` (and ``period``), with the
    groups that may be published to an evaluator (minimum group size ``k``)."""
    questions = campaign_questions(session, campaign=campaign)
    group_fields = list(by) + (["period"] if period else [])
    sql_fields = [f for f in group_fields if f != "dimension"]
    weighting = None
    weights = None
    if weighted:
        weights, weighting = cell_weights(session, campaign, include_flagged, k)
    cid = stored_id(campaign)
    counts = read_counts(
        session,
        campaign_id=cid,
        fields=sql_fields,
        period=period,
        include_flagged=include_flagged,
        filters=filters,
        weights=weights,
        k=k,
    )
    if weighting is not None and counts.weights is not None:
        # The published summary is of the weights as used, averaged within blocks.
        weighting = with_usage(weighting, counts.weights)
    t = groups_from_counts(counts, questions, by, group_fields, weighting)
    t.published = cube.published(
        session,
        campaign_id=cid,
        fields=sql_fields,
        period=period,
        include_flagged=include_flagged,
        filters=filters,
        k=k,
    )
    return t


def read_counts(
    session: Session,
    *,
    campaign_id: int,
    fields: list[str],
    period: str | None,
    include_flagged: bool,
    filters: Filters,
    weights: dict[tuple[int, str, str], float] | None,
    k: int,
) -> Counts:
    """Counts per (group of ``fields``, question, scale point) from the source that holds the
    grouping (``queries.choose_source``): the statistics table, or the columnar copy, whose
    weights are averaged within disclosure blocks of size ``k``."""
    common: dict[str, Any] = {
        "campaign_id": campaign_id,
        "fields": fields,
        "period": period,
        "include_flagged": include_flagged,
        "filters": filters,
        "weights": weights,
    }
    if choose_source(fields, filters, weighted=weights is not None) == "columns":
        return cube.counts(session, k=k, **common)
    return fetch_counts(session, **common)


def suppression(t: Groups, k: int) -> dict[tuple[Any, ...], str]:
    """The groups not to publish, and why: ``primary`` under ``k`` respondents, ``secondary``
    when its respondents are not whole disclosure blocks (``analytics.indicators.disclosure``)."""
    keep = [i for i, f in enumerate(t.fields) if f != "dimension"]
    out: dict[tuple[Any, ...], str] = {}
    for key, n in zip(t.keys, t.n.tolist(), strict=True):
        if n < k:
            out[key] = PRIMARY
        elif tuple(key[i] for i in keep) not in t.published:
            out[key] = SECONDARY
    return out


def satisfied(v: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Whether each answer counts as satisfied: one of the top two points of its scale that
    lies above the scale's midpoint.

    On 5 points or more this is the usual top-two box (4-5 of 1-5, 9-10 of 0-10); on 4 points
    the upper half (3-4 of 1-4); on 3 points only the top (3 of 1-3, not the neutral middle);
    on 2 points only the top (the "yes"). The midpoint and the bottom never count."""
    return (v >= hi - 1) & (2 * v > lo + hi)


def groups_from_counts(
    counts: Counts,
    questions: dict[str, QuestionInfo],
    by: list[str],
    group_fields: list[str],
    weighting: dict[str, Any] | None,
) -> Groups:
    """Per-group moments, respondents and NPS of counts per scale point."""
    size_all = len(counts)
    coded = {f: factorize(np.asarray(col)) for f, col in counts.keys.items()}
    uq, qcode = factorize(np.asarray(counts.question, dtype=object))
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
    w4n = counts.w4n[order]

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
    dim_codes = factorize(dim_u[qcode]) if size_all else (np.zeros(0, dtype=object), qcode)

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

    g, keys = group_keys(cols(stat_rows, True), int(stat_rows.sum()))
    size = len(keys)
    sn, swn, sw2n, sv = n[stat_rows], wn[stat_rows], w2n[stat_rows], v[stat_rows]
    sw4n = w4n[stat_rows]
    slo, shi = lo[stat_rows], hi[stat_rows]
    score = 100.0 * (sv - slo) / (shi - slo)
    top = satisfied(sv, slo, shi).astype(float)
    skind = kind[stat_rows]
    est = {
        "value": moments(g, size, sn, swn, sw2n, sv),
        "score": moments(g, size, sn, swn, sw2n, score),
        "top": moments(g, size, sn, swn, sw2n, top),
    }
    n_answers = np.bincount(g, weights=sn, minlength=size)
    sw_tot = np.bincount(g, weights=swn, minlength=size)
    sw2_tot = np.bincount(g, weights=sw2n, minlength=size)
    sw4_tot = np.bincount(g, weights=sw4n, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        n_eff = sw_tot**2 / sw2_tot
        # The weighted SE's square is a sum of w_i^2 e_i^2 terms; as a chi-square its degrees
        # of freedom are (sum w^2)^2 / sum w^4 (Satterthwaite), fewer than the Kish n_eff.
        # Tests on n_eff - 1 raised 5.5-6.4% false alarms at a nominal 5% (bench/trend_alarms).
        n_df = sw2_tot**2 / sw4_tot
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
        resp_n = _per_question(g, size, sn, qcode[stat_rows])[1]
    else:
        rg, rkeys = group_keys(cols(is_resp, False), int(is_resp.sum()))
        rn = np.bincount(rg, weights=n[is_resp], minlength=len(rkeys))
        lookup = dict(zip(rkeys, rn.tolist(), strict=True))
        resp_n = np.array([lookup.get(k, 0.0) for k in keys], dtype=float)

    # NPS: its own dimension when grouped by dimension, else attached to each row.
    nps_val = np.full(size, np.nan)
    nps_se = np.full(size, np.nan)
    nps_cnt = np.zeros(size)
    nps_parts = (np.full(size, np.nan), np.full(size, np.nan), np.zeros(size))
    nps_inflate = np.ones(size)
    if by_dim:
        # Over the NPS answers of the group only: a dimension may also hold rating questions,
        # whose answers are neither promoters nor detractors and must not dilute the score.
        isnps = skind == "nps"
        gp, pv = g[isnps], sv[isnps]
        py = (pv >= 9).astype(float) - (pv <= 6)
        m, _sd, se = moments(gp, size, sn[isnps], swn[isnps], sw2n[isnps], py)
        pc = np.bincount(gp, weights=sn[isnps], minlength=size)
        isn = pc > 0
        nps_val = np.where(isn, 100 * m, np.nan)
        nps_se = np.where(isn, 100 * se, np.nan)
        nps_cnt = np.where(isn, pc, 0.0)
        nps_parts = _nps_parts(gp, size, sn[isnps], swn[isnps], sw2n[isnps], py)
        nps_inflate = _inflation(*_per_question(gp, size, sn[isnps], qcode[stat_rows][isnps]))
    elif nps_rows.any():
        pg, pkeys = group_keys(cols(nps_rows, False), int(nps_rows.sum()))
        pv = v[nps_rows]
        py = (pv >= 9).astype(float) - (pv <= 6)
        m, _sd, se = moments(pg, len(pkeys), n[nps_rows], wn[nps_rows], w2n[nps_rows], py)
        pc = np.bincount(pg, weights=n[nps_rows], minlength=len(pkeys))
        pp, pd, pe = _nps_parts(pg, len(pkeys), n[nps_rows], wn[nps_rows], w2n[nps_rows], py)
        pf = _inflation(*_per_question(pg, len(pkeys), n[nps_rows], qcode[nps_rows]))
        lk = {k: i for i, k in enumerate(pkeys)}
        for i, k in enumerate(keys):
            j = lk.get(k)
            if j is not None:
                nps_val[i], nps_se[i], nps_cnt[i] = 100 * m[j], 100 * se[j], pc[j]
                nps_parts[0][i], nps_parts[1][i], nps_parts[2][i] = pp[j], pd[j], pe[j]
                nps_inflate[i] = pf[j]
    # A respondent gives several answers to a pooled row, and to a dimension of several
    # questions; they correlate, and the counts carry no link between them. Count respondents
    # rather than answers for the precision (conservative: as if a respondent's answers in the
    # group were perfectly correlated), so the interval is never narrower than the
    # respondent-clustered one and shrinkage weighs a dimension by respondents, not answers.
    # A dimension of one question keeps its answers (the factor is exactly 1).
    inflate = _inflation(n_answers, resp_n)
    est = {k: (m_, sd_, se_ * inflate) for k, (m_, sd_, se_) in est.items()}
    n_eff = n_eff / inflate**2
    n_df = n_df / inflate**2
    # The same for the NPS when a group holds several NPS questions.
    nps_se = nps_se * nps_inflate
    nps_parts = (nps_parts[0], nps_parts[1], nps_parts[2] / nps_inflate**2)
    return Groups(
        fields=group_fields,
        keys=keys,
        n=resp_n,
        n_answers=n_answers,
        n_eff=n_eff,
        n_df=n_df,
        lo=gmin,
        hi=gmax,
        mixed_scale=mixed,
        est=est,
        nps=(nps_val, nps_se, nps_cnt),
        nps_parts=nps_parts,
        weighting=weighting,
        source=counts.source,
    )


def _per_question(
    g: np.ndarray, size: int, cnt: np.ndarray, q: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per group: its answers, and its respondents counted as the most answers to one of its
    questions (a lower bound, so suppression errs on the safe side)."""
    if not len(g):
        return np.zeros(size), np.zeros(size)
    nq = int(q.max()) + 1
    per_q = np.bincount(g * nq + q, weights=cnt, minlength=size * nq).reshape(size, nq)
    return per_q.sum(axis=1), per_q.max(axis=1)


def _inflation(answers: np.ndarray, respondents: np.ndarray) -> np.ndarray:
    """sqrt(answers / respondents), at least 1: the factor on an SE counted in answers."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt(np.maximum(answers / np.maximum(respondents, 1.0), 1.0))


def _nps_parts(
    g: np.ndarray, size: int, cnt: np.ndarray, wn: np.ndarray, w2n: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per group of NPS answers y in {+1, 0, -1}: the (weighted) shares of promoters and of
    detractors, and the answers' effective number (Kish; their count when unweighted)."""
    sw = np.bincount(g, weights=wn, minlength=size)
    sw2 = np.bincount(g, weights=w2n, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        promoters = np.bincount(g, weights=wn * (y > 0), minlength=size) / sw
        detractors = np.bincount(g, weights=wn * (y < 0), minlength=size) / sw
        n_eff = np.where(sw2 > 0, sw * sw / sw2, 0.0)
    return promoters, detractors, n_eff


def shrink_families(
    t: Groups, hidden: dict[tuple[Any, ...], str] | None = None
) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    """Shrink within each family (same dimension and period) across the other grouping keys.

    Groups in ``hidden`` are left out (and left unshrunk): a suppressed group takes no
    part in the grand mean or the between-group variance, which would otherwise carry a trace
    of it into every published shrunk score."""
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
        if hidden is None or k not in hidden:
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


def unit_names(session: Session, t: Groups) -> dict[str, dict[int, tuple[str, str, str]]]:
    """(code, name, name_en) of the table's units and areas, by id."""
    out: dict[str, dict[int, tuple[str, str, str]]] = {}
    for f in ("unit", "area"):
        if f in t.fields:
            i = t.fields.index(f)
            out[f] = unit_labels(session, [k[i] for k in t.keys])
    return out
