"""Shrunk scores, their intervals and the composite index, recomputed by direct integration.

The service integrates the hierarchical normal model over tau on a quantile grid with mu
integrated out in closed form; here both mu and tau are integrated numerically with scipy
(adaptive quadrature on the joint posterior), from the raw answers.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from fastapi import FastAPI
from scipy import integrate
from scipy import stats as sps
from sqlmodel import Session

from analytics import indicators
from analytics.indicators.statistics import Z
from tests.analytics import oracle
from tests.synthetic import DIMENSIONS, Synthetic


def direct_posterior(y: np.ndarray, v: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and SD of each true mean: theta_j ~ N(mu, tau^2), y_j ~ N(theta_j, v_j),
    flat prior on mu, half-Cauchy(scale) on tau, integrated numerically over (mu, tau)."""
    centre = float(np.average(y, weights=1 / v))
    half = 8 * math.sqrt(float(v.max()) + float(np.var(y))) + 1

    def log_joint(mu: float, tau: float) -> float:
        prior = math.log(2 / (math.pi * scale * (1 + (tau / scale) ** 2)))
        return prior + float(sps.norm.logpdf(y, mu, np.sqrt(v + tau * tau)).sum())

    ref = log_joint(centre, scale)

    def moments(mu: float, tau: float) -> np.ndarray:
        dens = math.exp(log_joint(mu, tau) - ref)
        if tau == 0:
            cond_mean, cond_var = np.full_like(y, mu), np.zeros_like(y)
        else:
            prec = 1 / v + 1 / (tau * tau)
            cond_mean = (y / v + mu / (tau * tau)) / prec
            cond_var = 1 / prec
        return dens * np.concatenate(([1.0], cond_mean, cond_var + cond_mean**2))

    def over_mu(tau: float) -> np.ndarray:
        return integrate.quad_vec(
            lambda mu: moments(mu, tau), centre - half, centre + half, epsrel=1e-9
        )[0]

    total = integrate.quad_vec(over_mu, 0, np.inf, epsrel=1e-8)[0]
    g = len(y)
    mean = total[1 : g + 1] / total[0]
    second = total[g + 1 :] / total[0]
    return mean, np.sqrt(second - mean**2)


def reference(engine: object, campaign_id: int) -> dict[str, dict[str, tuple[float, ...]]]:
    """Per dimension and unit: (raw score, shrunk score, interval SD) from the raw answers."""
    answers = [a for a in oracle.raw_answers(engine, campaign_id) if a["type"] == "rating"]  # type: ignore[arg-type]
    out: dict[str, dict[str, tuple[float, ...]]] = {}
    for dim in DIMENSIONS:
        cells = oracle.group([a for a in answers if a["dimension"] == dim], ["unit"])
        units = sorted(cells)
        scores = [
            np.array([100 * (a["v"] - a["lo"]) / (a["hi"] - a["lo"]) for a in cells[u]])
            for u in units
        ]
        y = np.array([s.mean() for s in scores])
        n = np.array([len(s) for s in scores], dtype=float)
        sigma2 = sum(((s - s.mean()) ** 2).sum() for s in scores) / (n - 1).sum()
        mean, sd = direct_posterior(y, sigma2 / n, math.sqrt(sigma2))
        # The interval's SD adds the shift from the raw score (a root mean squared error).
        rmse = np.sqrt(sd**2 + (mean - y) ** 2)
        out[dim] = {
            u[0]: (float(y[i]), float(mean[i]), float(rmse[i])) for i, u in enumerate(units)
        }
    return out


def test_shrunk_scores_and_ranking_match_direct_integration(
    app: FastAPI, session: Session, synthetic: Callable[..., Synthetic]
) -> None:
    # Few, unequal units that differ little: where tau is most uncertain.
    syn = synthetic(n=240, units=6, areas=1, seed=11, spread=0.15, unit_sizes=[1, 1, 2, 3, 5, 8])
    ref = reference(app.state.engine, syn.campaign_id)
    res = indicators.compute(
        session, campaign_id=syn.campaign_id, by="unit,dimension", min_group_size=1
    )
    rows = [r for r in res.rows if r["dimension"] in DIMENSIONS]
    assert rows and not any(r["suppressed"] for r in rows)
    for r in rows:
        raw, mean, rmse = ref[r["dimension"]][r["unit_code"]]
        assert r["score"] == pytest.approx(raw, abs=1e-5)
        assert r["shrunk_score"] == pytest.approx(mean, abs=2e-3)
        assert r["shrunk_ci_low"] == pytest.approx(mean - Z * rmse, abs=3e-3)
        assert r["shrunk_ci_high"] == pytest.approx(mean + Z * rmse, abs=3e-3)
        # The unit's own raw score always lies inside its interval.
        assert r["shrunk_ci_low"] <= raw <= r["shrunk_ci_high"]
    rank = indicators.ranking(session, campaign_id=syn.campaign_id, min_group_size=1)
    assert len(rank.rows) == 6
    for r in rank.rows:
        cells = [ref[d][r["unit_code"]] for d in DIMENSIONS]
        index = np.mean([c[1] for c in cells])
        se = np.mean([c[2] for c in cells])
        assert r["index"] == pytest.approx(index, abs=2e-3)
        assert r["ci_low"] == pytest.approx(index - Z * se, abs=3e-3)
        assert r["ci_high"] == pytest.approx(index + Z * se, abs=3e-3)


def dersimonian_laird_tau2(y: np.ndarray, v: np.ndarray) -> float:
    w = 1 / v
    mu = (w * y).sum() / w.sum()
    q = (w * (y - mu) ** 2).sum()
    return max(0.0, (q - (len(y) - 1)) / (w.sum() - (w * w).sum() / w.sum()))


def test_units_that_differ_never_collapse_to_one_value() -> None:
    # 5 units that truly differ (SD 3 points), 40 answers each with SD 25: the moment
    # estimate of the spread is 0 in about a third of such campaigns, which used to put every
    # unit on the grand mean. Integrated over tau, the scores keep the order of the raw means
    # (equal n) and each raw mean stays inside its own interval.
    rng = np.random.default_rng(5)
    zero_moment = 0
    for _ in range(300):
        theta = 60 + 3 * rng.standard_normal(5)
        n = np.full(5, 40.0)
        y = theta + 25 / np.sqrt(n) * rng.standard_normal(5)
        sd = 25 * np.sqrt(rng.chisquare(n - 1) / (n - 1))
        shrunk, post, params = indicators.shrink(y, sd, n)
        sigma2 = float(((n - 1) * sd * sd).sum() / (n - 1).sum())
        zero_moment += dersimonian_laird_tau2(y, sigma2 / n) == 0
        assert params["applied"] and params["tau2_between"] > 0
        assert np.ptp(shrunk) > 0
        assert (np.argsort(shrunk) == np.argsort(y)).all()
        assert (np.abs(shrunk - y) <= Z * post).all()
    assert zero_moment > 50


def test_small_weak_unit_interval_holds_the_large_one() -> None:
    # Raw 50 with 6 answers and with 300: the small unit's estimate is pulled toward the
    # others (the evidence says little), but its interval contains the large unit's, so the
    # two are never presented as ordered.
    mean = np.array([50.0, 50.0, 56.0, 58.0, 60.0, 62.0, 64.0])
    n = np.array([6.0, 300, 300, 300, 300, 300, 300])
    est, post, _params = indicators.shrink(mean, np.full(7, 25.0), n)
    assert est[0] > est[1]
    assert est[0] - Z * post[0] < est[1] - Z * post[1]
    assert est[0] + Z * post[0] > est[1] + Z * post[1]
