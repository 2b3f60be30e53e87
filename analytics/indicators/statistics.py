"""Statistics on counts: grouped moments, intervals, shrinkage and the false discovery rate.

Pure numpy and scipy on arrays, no database: the oracle in the tests recomputes each of them
independently from the raw answers.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.special import gammaln

from analytics.indicators.distributions import norm_ppf, t_sf

CONFIDENCE = 0.95
Z = float(norm_ppf(0.5 + CONFIDENCE / 2))


def factorize(col: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted unique values, code of each row)."""
    u, inv = np.unique(col, return_inverse=True)
    return u, inv.astype(np.int64).reshape(-1)


def group_keys(
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


def moments(
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


def shrink(
    mean: np.ndarray, sd: np.ndarray, n: np.ndarray
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Hierarchical normal shrinkage of group means, averaged over the between-group spread.

    Model: group mean ``y_j ~ N(theta_j, sigma2 / n_j)`` with ``sigma2`` the pooled
    within-group variance, ``theta_j ~ N(mu, tau^2)``, a flat prior on ``mu`` and a
    half-Cauchy prior on ``tau`` with scale ``sqrt(sigma2)``. Returns the posterior mean and
    SD of each ``theta_j`` (integrated over ``mu`` exactly and over ``tau`` by quadrature,
    see ``tau_posterior``), the SD widened by the shift ``shrunk - mean`` (interval
    ``shrunk +/- 1.96 * sqrt(posterior variance + shift^2)``), and the parameters reported in
    the method. Coverage is measured in bench/shrinkage_coverage.py.
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
        # shrink away, so they stand as they are (and the precisions would be infinite).
        params.update(applied=False, sigma2_within=0.0, kappa=None)
        params["reason"] = "no spread within groups: the group means are kept unshrunk"
        with np.errstate(invalid="ignore", divide="ignore"):
            return mean.copy(), sd / np.sqrt(n), params
    v = sigma2 / k
    tau, p = tau_posterior(m, v, math.sqrt(sigma2))
    post_mean, post_var, mu = conditional_posterior(m, v, tau)
    est = p @ post_mean
    # Law of total variance over tau: the spread of the conditional means adds to their
    # variances, so an uncertain tau widens the interval instead of being ignored.
    var = p @ (post_var + post_mean * post_mean) - est * est
    tau2 = float(p @ (tau * tau))
    params.update(
        applied=True,
        overall_mean=float(p @ mu),
        sigma2_within=sigma2,
        tau2_between=tau2,
        tau_between_median=float(np.interp(0.5, np.cumsum(p), tau)),
        # Prior strength in answers at the posterior mean of tau^2, for reading only: the
        # estimates average the shrinkage over every plausible tau.
        kappa=sigma2 / tau2,
    )
    shrunk = mean.copy()
    post_sd = np.full_like(mean, np.nan, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        post_sd[:] = sd / np.sqrt(n)
    shrunk[ok] = est
    # The interval adds the distance the estimate moved to its variance (a root mean squared
    # error): for a unit whose true mean is far from the others that distance is bias, and a
    # posterior SD alone left the truly best and worst of 30 units covered 80% of the time.
    # It also keeps the unit's own raw mean inside its interval.
    post_sd[ok] = np.sqrt(np.maximum(var, 0.0) + (est - m) ** 2)
    return shrunk, post_sd, params


TAU_GRID = 400


def tau_posterior(y: np.ndarray, v: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Quadrature nodes of tau and their posterior weights (summing to 1).

    The nodes are the half-Cauchy(scale) quantiles at the midpoints of ``TAU_GRID`` equal
    probability slices, so each node carries the same prior mass and its weight is the
    marginal likelihood of tau (mu integrated out under its flat prior):
    ``prod (v_j + tau^2)^-1/2 * (sum w_j)^-1/2 * exp(-1/2 sum w_j (y_j - mu_hat)^2)``,
    ``w_j = 1 / (v_j + tau^2)``, ``mu_hat = sum w_j y_j / sum w_j``.
    """
    u = (np.arange(TAU_GRID) + 0.5) / TAU_GRID
    tau = scale * np.tan(0.5 * math.pi * u)
    w = 1.0 / (v[None, :] + (tau * tau)[:, None])
    sw = w.sum(axis=1)
    mu = (w * y[None, :]).sum(axis=1) / sw
    resid = ((y[None, :] - mu[:, None]) ** 2 * w).sum(axis=1)
    loglik = 0.5 * np.log(w).sum(axis=1) - 0.5 * np.log(sw) - 0.5 * resid
    p = np.exp(loglik - loglik.max())
    return tau, p / p.sum()


def conditional_posterior(
    y: np.ndarray, v: np.ndarray, tau: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Posterior mean and variance of each theta_j given each tau (rows), and mu_hat(tau).

    Given tau: ``B_j = v_j / (v_j + tau^2)``, ``E = (1 - B_j) y_j + B_j mu_hat`` and
    ``Var = (1 - B_j) v_j + B_j^2 / sum w`` (the last term is the uncertainty of mu).
    """
    t2 = (tau * tau)[:, None]
    w = 1.0 / (v[None, :] + t2)
    sw = w.sum(axis=1)
    mu = (w * y[None, :]).sum(axis=1) / sw
    b = v[None, :] * w
    est = (1 - b) * y[None, :] + b * mu[:, None]
    var = (1 - b) * v[None, :] + b * b / sw[:, None]
    return est, var, mu


def wilson(p: float, n: float, z: float = Z) -> tuple[float, float]:
    """Wilson score interval for a proportion p out of n (n may be an effective size)."""
    if n <= 0 or not math.isfinite(p):
        return (math.nan, math.nan)
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def rounded_column(x: np.ndarray, nd: int = 6) -> list[float | None]:
    """A numpy column as rounded floats, None where not finite."""
    arr = np.asarray(x, dtype=float)
    return [v if math.isfinite(v) else None for v in np.round(arr, nd).tolist()]


def rounded(x: Any, nd: int = 6) -> float | None:
    """A number rounded to nd digits, None when missing or not finite."""
    if x is None:
        return None
    x = float(x)
    return round(x, nd) if math.isfinite(x) else None


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


def change_test(
    diff: np.ndarray,
    se_a: np.ndarray,
    se_b: np.ndarray,
    n_a: np.ndarray,
    n_b: np.ndarray,
    m_a: np.ndarray,
    m_b: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two-sided test of a difference between two independent means: (t, df, p).

    Welch's t: ``t = diff / sqrt(se_a^2 + se_b^2)`` on the Welch-Satterthwaite degrees of
    freedom ``(se_a^2 + se_b^2)^2 / (se_a^4 / (n_a - 1) + se_b^4 / (n_b - 1))``, where
    ``n_a``, ``n_b`` are effective sample sizes (the plain counts when unweighted). A normal
    z test on small samples rejects too often (8.6% at 5 per group for a nominal 5%).

    When neither mean has any spread (every answer the same in both groups) ``t`` is 0/0 if
    the means agree (reported as t = 0, p = 1) and infinite if they differ; then the exact permutation test of
    the difference in means is used: two constant groups that differ are the most extreme of
    the C(m_a + m_b, m_a) equally likely splits of the pooled answers (with its mirror image
    when m_a == m_b), so p = 1 / C(m_a + m_b, m_a), doubled when m_a == m_b. ``m_a``,
    ``m_b`` are whole counts of exchangeable units (respondents; the caller chooses them
    conservatively). ``t`` is then infinite and ``df`` NaN. Where a group has fewer than 2
    (effective) answers there is no test: t and df NaN, p = 1.
    """
    diff = np.atleast_1d(np.asarray(diff, dtype=float))
    va = np.atleast_1d(np.asarray(se_a, dtype=float)) ** 2
    vb = np.atleast_1d(np.asarray(se_b, dtype=float)) ** 2
    na = np.atleast_1d(np.asarray(n_a, dtype=float))
    nb = np.atleast_1d(np.asarray(n_b, dtype=float))
    v = va + vb
    testable = (na >= 2) & (nb >= 2) & np.isfinite(v) & np.isfinite(diff)
    spread = testable & (v > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(spread, diff / np.sqrt(v), np.nan)
        df = np.where(spread, v * v / (va * va / (na - 1) + vb * vb / (nb - 1)), np.nan)
        p = np.where(spread, 2 * t_sf(np.abs(t), df), 1.0)
    t[testable & (v == 0) & (diff == 0)] = 0.0
    flat = testable & (v == 0) & (diff != 0)
    if flat.any():
        ma = np.floor(np.broadcast_to(np.asarray(m_a, dtype=float), flat.shape)[flat])
        mb = np.floor(np.broadcast_to(np.asarray(m_b, dtype=float), flat.shape)[flat])
        # log C(ma + mb, ma) through the log-gamma function: no overflow for large groups.
        log_c = gammaln(ma + mb + 1) - gammaln(ma + 1) - gammaln(mb + 1)
        p_flat = np.where(ma == mb, 2.0, 1.0) * np.exp(-log_c)
        p[flat] = np.minimum(p_flat, 1.0)
        t[flat] = np.sign(diff[flat]) * np.inf
    return t, df, p


def nps_interval(
    promoters: Any, detractors: Any, n_eff: Any, z: float = Z
) -> tuple[np.ndarray, np.ndarray]:
    """95% interval of the NPS (on -100..100) after adding one promoter, one passive and one
    detractor: ``p~ = (n p + 1) / (n + 3)``, ``d~ = (n d + 1) / (n + 3)``, interval
    ``100 * (p~ - d~ +/- z * sqrt((p~ + d~ - (p~ - d~)^2) / (n + 3)))`` clipped to
    [-100, 100]. ``promoters`` and ``detractors`` are shares (0..1, weighted when the cell is
    weighted) and ``n_eff`` the (effective) number of NPS answers.

    The plain normal interval collapses to a point when every answer is a promoter and
    covered 56-84% at 5 answers; the three pseudo-answers keep a width at the extremes and
    hold coverage near 95% from 5 answers on (bench/nps_coverage.py). The point estimate
    stays the plain NPS; this interval is centred on the adjusted one. NaN where n_eff <= 0.
    """
    p = np.asarray(promoters, dtype=float)
    d = np.asarray(detractors, dtype=float)
    n = np.asarray(n_eff, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        m = n + 3.0
        pa = (n * p + 1.0) / m
        da = (n * d + 1.0) / m
        centre = pa - da
        half = z * np.sqrt(np.maximum(pa + da - centre * centre, 0.0) / m)
        ok = n > 0
        low = np.where(ok, np.maximum(-100.0, 100.0 * (centre - half)), np.nan)
        high = np.where(ok, np.minimum(100.0, 100.0 * (centre + half)), np.nan)
    return low, high
