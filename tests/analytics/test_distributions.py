"""The distribution functions from scipy.special give scipy.stats's values, edges included."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from scipy import stats

from analytics.indicators import distributions as d

DF = np.array([-1.0, 0.0, 0.3, 1.0, 2.0, 2.7, 9.0, 41.5, 1e3, 1e7, np.inf, np.nan])
Q = np.array([0.0, 1e-12, 0.025, 0.5, 0.9, 0.975, 0.995, 1.0, 1.5, -0.1, np.nan])
X = np.array([-np.inf, -40.0, -3.1, -1e-9, 0.0, 0.7, 2.05, 12.0, np.inf, np.nan])


def _same(a: np.ndarray, b: np.ndarray) -> None:
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=0, equal_nan=True)


def test_t_quantiles_and_tails() -> None:
    q, df = np.meshgrid(Q, DF)
    _same(d.t_ppf(q, df), stats.t.ppf(q, df))
    x, df = np.meshgrid(X, DF)
    _same(d.t_sf(x, df), stats.t.sf(x, df))
    assert isinstance(d.t_ppf(0.975, 12), float) and d.t_ppf(0.975, 12) == stats.t.ppf(0.975, 12)


def test_f_and_normal_quantiles() -> None:
    q, n, m = np.meshgrid(Q, DF, DF)
    _same(d.f_ppf(q, n, m), stats.f.ppf(q, n, m))
    _same(d.norm_ppf(Q), stats.norm.ppf(Q))


def test_average_ranks() -> None:
    rng = np.random.default_rng(7)
    for values in (
        rng.integers(0, 5, 200).astype(float),
        rng.normal(size=50),
        np.array([3.0, 3.0, 3.0]),
        np.array([2.0]),
        np.array([1.0, np.nan, 0.5]),
        rng.integers(0, 3, 30),
    ):
        _same(d.rankdata(values), stats.rankdata(values))


def test_the_app_does_not_load_scipy_stats() -> None:
    # 44 MB in every worker; the views must not need it (a fresh interpreter, the whole app).
    code = (
        "import sys, service.main, analytics.indicators.service, analytics.indicators.reliability,"
        " analytics.indicators.sensitivity, analytics.indicators.difference,"
        " analytics.evaluation.interval; print('scipy.stats' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
