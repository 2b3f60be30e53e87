"""Reliability of multi-question dimensions and the correlation of the composite's dimensions.

``reliability`` serves the API, the dashboard and the report: Cronbach's alpha (with Feldt's
interval) of every dimension of two or more rating questions, and the Pearson correlation of
the respondents' dimension scores, district-wide or per unit. Both are second moments over
the respondents of a published group (whole disclosure blocks, at least ``k``), unweighted,
and shown only when at least ``max(k, MIN_RESPONDENTS)`` respondents enter them.

Both come from sums per group accumulated in one pass over chunks of the query's rows
(``_figures``, ``respondents.read``), so the memory is a chunk's whatever the groups' sizes
(a float64 matrix of the respondents' answers and its copies took a gigabyte at ten million):
alpha from each item's and the total's sum and sum of squares over the complete answers,
exact in integers for whole-number scales; the correlations from the scores' co-moments over
the pairwise-complete respondents, each chunk centred on its groups' own means and merged
with Chan's update.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
from sqlmodel import Session

from analytics.indicators import respondents
from analytics.indicators.disclosure import PRIMARY, SECONDARY
from analytics.indicators.distributions import f_ppf
from analytics.indicators.params import check_month, get_campaign, resolve_filters
from analytics.indicators.queries import QuestionInfo, campaign_questions, unit_labels
from analytics.indicators.respondents import Answers
from analytics.indicators.statistics import CONFIDENCE, rounded
from service.db import stored_id

# Fewer respondents than this give an alpha or a correlation too unstable to read.
MIN_RESPONDENTS = 10
TOO_FEW = "too_few"
# Respondents read at a time: the statistics are sums over chunks, so a chunk bounds the memory.
CHUNK = respondents.CHUNK


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


def _sums(where: np.ndarray, v: np.ndarray, groups: int) -> np.ndarray:
    """The sum of ``v`` over each group's rows (``where``: each row's group)."""
    if groups == 1:
        # One group: a plain sum (pairwise, and several times faster than bincount adding
        # every row into the same bin).
        return np.array([v.sum(dtype=float)])
    return np.bincount(where, weights=v, minlength=groups)


class _Moments:
    """Per group: count, means and co-moments (sums of products of deviations from the means)
    of a few columns, merged chunk by chunk with Chan, Golub and LeVeque's pairwise update:
    each chunk is centred on its groups' own means, so no sum of squares of raw values
    cancels. ``full`` False keeps the variances' co-moments only."""

    def __init__(self, groups: int, p: int, full: bool = True) -> None:
        self.full = full
        self.n = np.zeros(groups, np.int64)
        self.mean = np.zeros((groups, p))
        self.m = np.zeros((groups, p, p))

    def add(self, where: np.ndarray, cols: list[np.ndarray]) -> None:
        """Add rows (``where``: each row's group) of the columns ``cols``."""
        g, p = self.mean.shape
        nb = np.bincount(where, minlength=g)
        per = np.maximum(nb, 1)
        mb = np.stack([_sums(where, c, g) / per for c in cols], axis=1)
        dev = [c - mb[where, j] for j, c in enumerate(cols)]
        mm = np.zeros((g, p, p))
        for i in range(p):
            for j in range(i, p if self.full else i + 1):
                mm[:, i, j] = mm[:, j, i] = _sums(where, dev[i] * dev[j], g)
        n = self.n + nb
        delta = mb - self.mean  # groups without rows here: multiplied by nb = 0 below
        self.m += (
            mm
            + delta[:, :, None]
            * delta[:, None, :]
            * (self.n * nb / np.maximum(n, 1))[:, None, None]
        )
        self.mean += delta * (nb / np.maximum(n, 1))[:, None]
        self.n = n


class _Alpha:
    """Alpha's sufficient statistics per group over the respondents who answered every item:
    their number, each item's sum and sum of squares, and the same of their total.
    Whole-number scale values are summed exactly (within a chunk in float64, exact below
    2**53; across chunks in int64); other values go through ``_Moments``."""

    def __init__(self, groups: int, scales: list[np.ndarray], size: int, rows: int) -> None:
        k = len(scales)
        top = max(float(np.abs(s).max()) if len(s) else 0.0 for s in scales)
        whole = all(np.array_equal(s, np.rint(s)) for s in scales)
        # A chunk's and the whole query's sums of squared totals stay exact.
        self.exact = whole and (k * top) ** 2 * size < 2**53 and (k * top) ** 2 * rows < 2**62
        if self.exact:
            self.luts = [np.append(s, 0).astype(np.int64) for s in scales]
        else:
            self.luts = [np.append(s, np.nan) for s in scales]
        self.n = np.zeros(groups, np.int64)
        self.s1 = np.zeros((groups, k), np.int64)
        self.s2 = np.zeros((groups, k), np.int64)
        self.t1 = np.zeros(groups, np.int64)
        self.t2 = np.zeros(groups, np.int64)
        self.moments = _Moments(groups, k + 1, full=False)

    def add(self, where: np.ndarray, codes: list[np.ndarray]) -> None:
        ok = codes[0] >= 0
        for c in codes[1:]:
            ok &= c >= 0
        if not ok.any():
            return
        w = where[ok]
        values = [lut[c[ok]] for lut, c in zip(self.luts, codes, strict=True)]
        if not self.exact:
            self.moments.add(w, [*values, np.sum(values, axis=0)])
            return
        g = len(self.n)

        def total(v: np.ndarray) -> np.ndarray:
            return np.rint(_sums(w, v, g)).astype(np.int64)

        t = np.zeros(len(w), np.int64)
        for j, v in enumerate(values):
            self.s1[:, j] += total(v)
            self.s2[:, j] += total(v * v)
            t += v
        self.t1 += total(t)
        self.t2 += total(t * t)
        self.n += np.bincount(w, minlength=g)

    def count(self, g: int) -> int:
        return int(self.n[g] if self.exact else self.moments.n[g])

    def alpha(self, g: int) -> float:
        """Group ``g``'s k/(k-1) (1 - sum var_i / var_total); NaN when the total does not vary."""
        k = len(self.luts)
        if self.exact:
            n = int(self.n[g])
            # Each variance is (n * sum of squares - sum^2) / (n (n - 1)); the ratio of their
            # sum to the total's is exact in integers.
            items = sum(
                n * int(q) - int(s) ** 2 for s, q in zip(self.s1[g], self.s2[g], strict=True)
            )
            total = n * int(self.t2[g]) - int(self.t1[g]) ** 2
            if total <= 0:
                return float("nan")
            return float(Fraction(k, k - 1) * (1 - Fraction(items, total)))
        m = self.moments.m[g]
        if m[k, k] <= 0:
            return float("nan")
        return float(k / (k - 1) * (1 - np.trace(m[:k, :k]) / m[k, k]))


class _Pair:
    """Per group, Pearson's r of two dimensions' scores over the respondents who have both."""

    def __init__(self, groups: int) -> None:
        self.moments = _Moments(groups, 2)
        self.first = np.full((groups, 2), np.nan)  # one score seen in the group
        self.varies = np.zeros((groups, 2), bool)  # another score seen in the group

    def add(self, where: np.ndarray, x: np.ndarray, y: np.ndarray) -> None:
        both = np.isfinite(x) & np.isfinite(y)
        if not both.any():
            return
        w = where[both]
        cols = [x[both], y[both]]
        for j, v in enumerate(cols):
            # Only the rows of groups not yet seen to vary (after a chunk or two: none).
            todo = ~self.varies[w, j]
            if not todo.any():
                continue
            wt, vt = w[todo], v[todo]
            first = self.first[:, j]
            new = np.isnan(first[wt])
            first[wt[new]] = vt[new]  # any of the group's scores will do
            other = np.bincount(wt, weights=vt != first[wt], minlength=len(first))
            self.varies[:, j] |= other > 0
        self.moments.add(w, cols)

    def count(self, g: int) -> int:
        return int(self.moments.n[g])

    def r(self, g: int) -> float | None:
        """None when either score is the same for everyone (no correlation to speak of)."""
        if not self.varies[g].all():
            return None
        m = self.moments.m[g]
        return float(np.clip(m[0, 1] / np.sqrt(m[0, 0]) / np.sqrt(m[1, 1]), -1.0, 1.0))


def _score_luts(keys: list[str], questions: dict[str, QuestionInfo], g: Answers) -> list[Any]:
    """Each answer code's value on 0-100 (NaN for -1, not answered), per question."""
    out = []
    for k in keys:
        lo, hi = questions[k].scale_min, questions[k].scale_max
        out.append(100 * (np.append(respondents.scale(g, k), np.nan) - lo) / (hi - lo))
    return out


def _scores(codes: list[np.ndarray], luts: list[np.ndarray]) -> np.ndarray:
    """Each respondent's dimension score: the mean of its answered questions on 0-100."""
    total = np.zeros(len(codes[0]))
    answered = np.zeros(len(codes[0]), np.int64)
    for c, lut in zip(codes, luts, strict=True):
        v = lut[c]
        seen = c >= 0
        total += np.where(seen, v, 0.0)
        answered += seen
    with np.errstate(invalid="ignore"):
        return np.where(answered > 0, total / np.maximum(answered, 1), np.nan)


def _figures(
    groups: list[Answers],
    multi: dict[str, list[str]],
    dims: dict[str, list[str]],
    composite: list[str],
    questions: dict[str, QuestionInfo],
    size: int,
) -> tuple[dict[str, _Alpha], dict[tuple[str, str], _Pair]]:
    """Alpha's and the correlations' sufficient statistics of every group (published groups
    of one query; statistics indexed by the group's position), in one pass over their
    respondents ``size`` at a time: the memory is a chunk's, whatever the groups' sizes."""
    if not groups:
        return {}, {}
    g0, count, rows = groups[0], len(groups), sum(g.n for g in groups)
    alphas = {
        d: _Alpha(count, [respondents.scale(g0, k) for k in keys], size, rows)
        for d, keys in multi.items()
    }
    pairs = {(a, b): _Pair(count) for i, a in enumerate(composite) for b in composite[i + 1 :]}
    luts = {d: _score_luts(dims[d], questions, g0) for d in composite}
    wanted = sorted(
        {k for keys in multi.values() for k in keys} | {k for d in luts for k in dims[d]}
    )
    for where, chunk in respondents.read(groups, wanted, size):
        for d, keys in multi.items():
            alphas[d].add(where, [chunk[k] for k in keys])
        scores = {d: _scores([chunk[k] for k in dims[d]], luts[d]) for d in composite}
        for (a, b), pair in pairs.items():
            pair.add(where, scores[a], scores[b])
        del scores
    return alphas, pairs


def _alpha_row(acc: _Alpha, g: int, floor: int) -> dict[str, Any]:
    n = acc.count(g)
    if n < floor:
        return {"n": None, "too_few": True}
    a = acc.alpha(g)
    lo, hi = feldt_interval(a, n, len(acc.luts)) if np.isfinite(a) else (np.nan, np.nan)
    return {
        "n": n,
        "alpha": rounded(a, 4),
        "alpha_ci_low": rounded(lo, 4),
        "alpha_ci_high": rounded(hi, 4),
        "too_few": False,
    }


def _corr_row(pair: _Pair, g: int, floor: int) -> dict[str, Any]:
    n = pair.count(g)
    if n < floor:
        return {"n": None, "r": None, "too_few": True}
    r = pair.r(g)
    return {"n": n, "r": None if r is None else rounded(r, 4), "too_few": False}


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
    shown = [g for g in groups if g.published]
    at = {id(g): i for i, g in enumerate(shown)}
    alphas, pairs = _figures(shown, multi, dims, composite, questions, CHUNK)
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
        at_g = at.get(id(g), -1)
        for d, keys in multi.items():
            base = {**head, "dimension": d, "items": len(keys)}
            if not g.published:
                rows.append({**base, "n": None, **hidden})
                continue
            one = _alpha_row(alphas[d], at_g, floor)
            rows.append(
                {
                    **base,
                    **one,
                    "suppressed": False,
                    "suppression": TOO_FEW if one["too_few"] else None,
                }
            )
        for i, a in enumerate(composite):
            for b in composite[i + 1 :]:
                base = {**head, "dimension_a": a, "dimension_b": b}
                if not g.published:
                    corr.append({**base, "n": None, "r": None, **hidden})
                    continue
                one = _corr_row(pairs[(a, b)], at_g, floor)
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
