"""The NPS interval (one promoter, one passive and one detractor added) against a numpy
recomputation from the raw answers, through the API, and on literal cases."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from analytics.indicators.statistics import nps_interval
from tests.analytics import oracle
from tests.factories import headers_for
from tests.synthetic import Synthetic

Z = 1.959963984540054


def adjusted(p: float, d: float, n: float) -> tuple[float, float]:
    """The interval written out by hand, on the -100..100 scale."""
    pa, da = (n * p + 1) / (n + 3), (n * d + 1) / (n + 3)
    half = Z * math.sqrt((pa + da - (pa - da) ** 2) / (n + 3))
    return max(-100.0, 100 * (pa - da - half)), min(100.0, 100 * (pa - da + half))


@pytest.mark.parametrize(
    ("p", "d", "n", "low", "high"),
    [
        # All promoters, 10 answers: p' = 11/13, d' = 1/13, centre 10/13, half-width
        # 1.96 * sqrt((12/13 - (10/13)^2) / 13).
        (1.0, 0.0, 10, 100 * (10 / 13 - Z * math.sqrt((12 / 13 - (10 / 13) ** 2) / 13)), 100.0),
        (0.0, 1.0, 10, -100.0, -100 * (10 / 13 - Z * math.sqrt((12 / 13 - (10 / 13) ** 2) / 13))),
        # One promoter: p' = 1/2, d' = 1/4, centre 1/4, half-width 1.96 * sqrt(11/16 / 4).
        (1.0, 0.0, 1, 100 * (0.25 - Z * math.sqrt(11 / 64)), 100.0),
        # One passive: p' = d' = 1/4, centre 0, half-width 1.96 * sqrt(1/2 / 4).
        (0.0, 0.0, 1, -100 * Z * math.sqrt(1 / 8), 100 * Z * math.sqrt(1 / 8)),
        (0.5, 0.2, 40, None, None),
    ],
)
def test_interval_on_literals(
    p: float, d: float, n: float, low: float | None, high: float | None
) -> None:
    got_low, got_high = nps_interval(p, d, n)
    ref = adjusted(p, d, n)
    assert float(got_low) == pytest.approx(ref[0], abs=1e-9)
    assert float(got_high) == pytest.approx(ref[1], abs=1e-9)
    if low is not None and high is not None:
        assert float(got_low) == pytest.approx(low, abs=1e-9)
        assert float(got_high) == pytest.approx(high, abs=1e-9)
    # The plain NPS stays inside, even at the extremes where the normal interval was a point.
    assert float(got_low) <= 100 * (p - d) <= float(got_high)


def test_no_answers_give_no_interval() -> None:
    low, high = nps_interval(np.array([0.5]), np.array([0.2]), np.array([0.0]))
    assert np.isnan(low).all() and np.isnan(high).all()


def _nps_cells(answers: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    cells: dict[str, list[dict[str, Any]]] = {}
    for a in answers:
        if a["type"] == "nps":
            cells.setdefault(a["unit"], []).append(a)
    return cells


def _get(client: TestClient, session: Session, syn: Synthetic, weighted: bool) -> list[Any]:
    h = headers_for(client, session, "evaluator")
    r = client.get(
        f"/api/v1/campaigns/{syn.campaign_id}/indicators",
        params={"by": "unit,dimension", "weighted": str(weighted).lower()},
        headers=h,
    )
    assert r.status_code == 200
    body = r.json()
    assert "one promoter, one passive and one detractor" in body["method"]["nps"]
    return [x for x in body["rows"] if x["dimension"] == "nps" and not x["suppressed"]]


def test_api_interval_matches_raw_answers(
    app: FastAPI, client: TestClient, session: Session, synthetic: Callable[..., Synthetic]
) -> None:
    syn = synthetic(n=60, units=4, areas=2, seed=16)
    cells = _nps_cells(oracle.raw_answers(app.state.engine, syn.campaign_id))
    rows = _get(client, session, syn, weighted=False)
    assert rows
    for row in rows:
        v = np.array([a["v"] for a in cells[row["unit_code"]]])
        p, d, n = float((v >= 9).mean()), float((v <= 6).mean()), len(v)
        low, high = adjusted(p, d, n)
        assert row["nps"] == pytest.approx(100 * (p - d), abs=1e-6)
        assert row["nps_ci_low"] == pytest.approx(low, abs=1e-5)
        assert row["nps_ci_high"] == pytest.approx(high, abs=1e-5)


def test_weighted_api_interval_uses_the_effective_size(
    app: FastAPI, client: TestClient, session: Session, synthetic: Callable[..., Synthetic]
) -> None:
    syn = synthetic(n=600, units=4, areas=3, seed=17, comment_share=0.0)
    margins = {
        "area": {c: 1 / 3 for c in syn.area_codes},
        "age_band": {"18-29": 0.2, "30-44": 0.3, "45-59": 0.3, "60+": 0.2},
        "sex": {"female": 0.5, "male": 0.5},
    }
    people = oracle.respondents(app.state.engine, syn.campaign_id)
    weights = oracle.block_mean_weights(people, oracle.rake_per_respondent(people, margins), k=5)
    cells = _nps_cells(oracle.raw_answers(app.state.engine, syn.campaign_id))
    rows = _get(client, session, syn, weighted=True)
    assert rows
    for row in rows:
        items = cells[row["unit_code"]]
        v = np.array([a["v"] for a in items])
        w = np.array([weights[a["rid"]] for a in items])
        y = (v >= 9).astype(float) - (v <= 6)
        sw = w.sum()
        m = float((w * y).sum() / sw)
        neff = sw**2 / float((w * w).sum())
        assert row["n_eff"] == pytest.approx(neff, abs=0.01)
        # The weighted shares of promoters and detractors, on the answers' Kish size.
        low, high = adjusted(float(w[y > 0].sum() / sw), float(w[y < 0].sum() / sw), neff)
        assert row["nps"] == pytest.approx(100 * m, abs=1e-6)
        assert row["nps_ci_low"] == pytest.approx(low, abs=1e-4)
        assert row["nps_ci_high"] == pytest.approx(high, abs=1e-4)
