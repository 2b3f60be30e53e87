"""The few distribution functions the statistics use, from ``scipy.special``.

``scipy.stats`` computes these with the same special functions (``t.ppf`` is ``stdtrit``,
``t.sf`` is ``stdtr`` of the negated value, ``f.ppf`` is ``fdtri``, ``norm.ppf`` is
``ndtri``), but importing it costs every worker 44 MB (it loads ``scipy.optimize`` and every
distribution): at 10 million responses that was a tenth of a worker's memory budget. Its
wrappers also return NaN for arguments outside the distribution's support and the bounds
of the support for probabilities 0 and 1; so do these. ``tests/analytics/test_distributions.py``
compares each with ``scipy.stats`` on ordinary and edge values.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special

Array = Any  # a float or a numpy array of them


def t_ppf(q: Array, df: Array) -> Array:
    """Student's t quantile (``scipy.stats.t.ppf``)."""
    q, df = np.asarray(q, dtype=float), np.asarray(df, dtype=float)
    ok = (df > 0) & (q >= 0) & (q <= 1)
    with np.errstate(invalid="ignore"):
        out = np.where(ok, special.stdtrit(np.where(ok, df, 1.0), np.where(ok, q, 0.5)), np.nan)
    out = np.where(ok & (q == 0), -np.inf, np.where(ok & (q == 1), np.inf, out))
    return out[()] if out.ndim == 0 else out


def t_sf(x: Array, df: Array) -> Array:
    """Student's t upper tail, P(T > x) (``scipy.stats.t.sf``)."""
    x, df = np.asarray(x, dtype=float), np.asarray(df, dtype=float)
    ok = (df > 0) & ~np.isnan(x)
    with np.errstate(invalid="ignore"):
        out = np.where(ok, special.stdtr(np.where(ok, df, 1.0), -np.where(ok, x, 0.0)), np.nan)
    return out[()] if out.ndim == 0 else out


def f_ppf(q: Array, dfn: Array, dfd: Array) -> Array:
    """The F distribution's quantile (``scipy.stats.f.ppf``)."""
    q, dfn, dfd = (np.asarray(v, dtype=float) for v in (q, dfn, dfd))
    ok = (dfn > 0) & (dfd > 0) & (q >= 0) & (q <= 1)
    with np.errstate(invalid="ignore"):
        out = np.where(
            ok,
            special.fdtri(np.where(ok, dfn, 1.0), np.where(ok, dfd, 1.0), np.where(ok, q, 0.5)),
            np.nan,
        )
    out = np.where(ok & (q == 0), 0.0, np.where(ok & (q == 1), np.inf, out))
    return out[()] if out.ndim == 0 else out


def norm_ppf(q: Array) -> Array:
    """The standard normal quantile (``scipy.stats.norm.ppf``)."""
    return special.ndtri(q)


def rankdata(values: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties given their average rank (``scipy.stats.rankdata``, "average")."""
    a = np.asarray(values).ravel()
    if a.dtype.kind == "f" and np.isnan(a).any():
        return np.full(a.shape, np.nan)  # as scipy's default policy: NaN propagates
    order = np.argsort(a, kind="mergesort")
    sorted_ = a[order]
    new = np.r_[True, sorted_[1:] != sorted_[:-1]]
    dense = np.cumsum(new)[np.argsort(order, kind="mergesort")]
    # Where each run of equal values starts and ends (1-based), its average rank is the mean.
    bounds = np.r_[np.nonzero(new)[0], len(a)]
    return np.asarray(0.5 * (bounds[dense] + bounds[dense - 1] + 1), dtype=float)
