"""Reliability of multi-question dimensions and the correlation of the composite's dimensions.

``reliability`` serves the API, the dashboard and the report: Cronbach's alpha (with Feldt's
interval) of every dimension of two or more rating questions, and the Pearson correlation of
the respondents' dimension scores, district-wide or per unit. Both are second moments over
the respondents of a published group (whole disclosure blocks, at least ``k``), unweighted,
and shown only when at least ``max(k, MIN_RESPONDENTS)`` respondents enter them.

Both come from sums accumulated over chunks of a group's respondents (``_figures``), so the
memory is a chunk's whatever the group's size (a float64 matrix of the respondents' answers
and its copies took a gigabyte at ten million): alpha from each item's and the total's sum
and sum of squares over the complete answers, exact in integers for whole-number scales;
the correlations from the scores' co-moments over the pairwise-complete respondents, each
chunk centred on its own means and merged with Chan's update.
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


class _Moments:
    """Count, means and co-moments (sums of products of deviations from the means) of a few
    columns, merged chunk by chunk with Chan, Golub and LeVeque's pairwise update: each chunk
    is centred on its own mean, so no sum of squares of raw values cancels."""

    def __init__(self, p: int) -> None:
        self.n = 0
        self.mean = np.zeros(p)
        self.m = np.zeros((p, p))

    def add(self, cols: list[np.ndarray]) -> None:
        nb = len(cols[0])
        if nb == 0:
            return
        mb = np.array([c.mean() for c in cols])
        dev = [c - mu for c, mu in zip(cols, mb, strict=True)]
        mm = np.array([[float(a @ b) for b in dev] for a in dev])
        n = self.n + nb
        delta = mb - self.mean
        self.m += mm + np.outer(delta, delta) * (self.n * nb / n)
        self.mean += delta * (nb / n)
        self.n = n


class _Alpha:
    """Alpha's sufficient statistics over the respondents who answered every item: their
    number, each item's sum and sum of squares, and the same of their total. Whole-number
    scale values are summed exactly (int64 within a chunk, Python integers across chunks);
    other values go through ``_Moments`` in float64."""

    def __init__(self, scales: list[np.ndarray], size: int) -> None:
        k = len(scales)
        top = max(float(np.abs(s).max()) if len(s) else 0.0 for s in scales)
        whole = all(np.array_equal(s, np.rint(s)) for s in scales)
        # A chunk's sum of squared totals must stay inside int64.
        self.exact = whole and (k * top) ** 2 * size < 2**62
        if self.exact:
            self.luts = [np.append(s, 0).astype(np.int64) for s in scales]
        else:
            self.luts = [np.append(s, np.nan) for s in scales]
        self.n = 0
        self.s1, self.s2 = [0] * k, [0] * k
        self.t1 = self.t2 = 0
        self.moments = _Moments(k + 1)

    def add(self, codes: list[np.ndarray]) -> None:
        ok = codes[0] >= 0
        for c in codes[1:]:
            ok &= c >= 0
        m = int(np.count_nonzero(ok))
        if m == 0:
            return
        values = [lut[c[ok]] for lut, c in zip(self.luts, codes, strict=True)]
        if not self.exact:
            self.moments.add([*values, np.sum(values, axis=0)])
            return
        total = np.zeros(m, np.int64)
        for j, v in enumerate(values):
            self.s1[j] += int(v.sum())
            self.s2[j] += int(v @ v)
            total += v
        self.t1 += int(total.sum())
        self.t2 += int(total @ total)
        self.n += m

    def count(self) -> int:
        return self.n if self.exact else self.moments.n

    def alpha(self) -> float:
        """k/(k-1) (1 - sum var_i / var_total); NaN when the total does not vary."""
        k = len(self.luts)
        if self.exact:
            n = self.n
            # Each variance is (n * sum of squares - sum^2) / (n (n - 1)); the ratio of their
            # sum to the total's is exact in integers.
            items = sum(n * q - s * s for s, q in zip(self.s1, self.s2, strict=True))
            total = n * self.t2 - self.t1 * self.t1
            if total <= 0:
                return float("nan")
            return float(Fraction(k, k - 1) * (1 - Fraction(items, total)))
        m = self.moments.m
        if m[k, k] <= 0:
            return float("nan")
        return float(k / (k - 1) * (1 - np.trace(m[:k, :k]) / m[k, k]))


class _Pair:
    """Pearson's r of two dimensions' scores over the respondents who have both."""

    def __init__(self) -> None:
        self.moments = _Moments(2)
        self.lo = [np.inf, np.inf]
        self.hi = [-np.inf, -np.inf]

    def add(self, x: np.ndarray, y: np.ndarray) -> None:
        both = np.isfinite(x) & np.isfinite(y)
        if not both.any():
            return
        xs, ys = x[both], y[both]
        for j, v in enumerate((xs, ys)):
            self.lo[j] = min(self.lo[j], float(v.min()))
            self.hi[j] = max(self.hi[j], float(v.max()))
        self.moments.add([xs, ys])

    def r(self) -> float | None:
        """None when either score is the same for everyone (no correlation to speak of)."""
        if self.lo[0] == self.hi[0] or self.lo[1] == self.hi[1]:
            return None
        m = self.moments.m
        return float(np.clip(m[0, 1] / np.sqrt(m[0, 0]) / np.sqrt(m[1, 1]), -1.0, 1.0))


def _score_luts(keys: list[str], questions: dict[str, QuestionInfo], g: Answers) -> list[Any]:
    """Each answer code's value on 0-100 (NaN for -1, not answered), per question."""
    out = []
    for k in keys:
        lo, hi = questions[k].scale_min, questions[k].scale_max
        out.append(100 * (np.append(g.scale(k), np.nan) - lo) / (hi - lo))
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
    g: Answers,
    multi: dict[str, list[str]],
    dims: dict[str, list[str]],
    composite: list[str],
    questions: dict[str, QuestionInfo],
    size: int,
) -> tuple[dict[str, _Alpha], dict[tuple[str, str], _Pair]]:
    """Alpha's and the correlations' sufficient statistics of one group, in one pass over its
    respondents ``size`` at a time: the memory is a chunk's, whatever the group's size."""
    alphas = {d: _Alpha([g.scale(k) for k in keys], size) for d, keys in multi.items()}
    pairs = {(a, b): _Pair() for i, a in enumerate(composite) for b in composite[i + 1 :]}
    luts = {d: _score_luts(dims[d], questions, g) for d in composite}
    wanted = sorted(
        {k for keys in multi.values() for k in keys} | {k for d in luts for k in dims[d]}
    )
    for chunk in g.chunks(wanted, size):
        for d, keys in multi.items():
            alphas[d].add([chunk[k] for k in keys])
        scores = {d: _scores([chunk[k] for k in dims[d]], luts[d]) for d in composite}
        for (a, b), pair in pairs.items():
            pair.add(scores[a], scores[b])
        del scores
    return alphas, pairs


def _alpha_row(acc: _Alpha, floor: int) -> dict[str, Any]:
    n = acc.count()
    if n < floor:
        return {"n": None, "too_few": True}
    a = acc.alpha()
    lo, hi = feldt_interval(a, n, len(acc.luts)) if np.isfinite(a) else (np.nan, np.nan)
    return {
        "n": n,
        "alpha": rounded(a, 4),
        "alpha_ci_low": rounded(lo, 4),
        "alpha_ci_high": rounded(hi, 4),
        "too_few": False,
    }


def _corr_row(pair: _Pair, floor: int) -> dict[str, Any]:
    n = pair.moments.n
    if n < floor:
        return {"n": None, "r": None, "too_few": True}
    r = pair.r()
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
        alphas, pairs = (
            _figures(g, multi, dims, composite, questions, CHUNK) if g.published else ({}, {})
        )
        for d, keys in multi.items():
            base = {**head, "dimension": d, "items": len(keys)}
            if not g.published:
                rows.append({**base, "n": None, **hidden})
                continue
            one = _alpha_row(alphas[d], floor)
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
                one = _corr_row(pairs[(a, b)], floor)
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
