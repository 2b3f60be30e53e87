"""Trend tests and the ranking's withholding rule, each against an independent computation."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from math import comb
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from scipy import stats as sps
from sqlalchemy.engine import Engine
from sqlmodel import Session

from analytics import indicators
from analytics.indicators.statistics import change_test
from tests.analytics import oracle
from tests.synthetic import DIMENSIONS, Synthetic, add_answers, make_campaign


def _respond(
    engine: Engine, syn: Synthetic, people: Sequence[tuple[int, int, Mapping[str, float]]]
) -> None:
    """One response per (unit index, hours after 2026-01-01, {question key: value}), written
    and counted as every writer does."""
    add_answers(
        engine,
        syn,
        [
            {"unit": unit, "hour": hour, "answers": dict(values), "age_band": "30-44"}
            for unit, hour, values in people
        ],
    )


def test_change_test_is_welch_from_summary_statistics() -> None:
    rng = np.random.default_rng(3)
    n_a, n_b = rng.integers(2, 60, 50).astype(float), rng.integers(2, 60, 50).astype(float)
    sd_a, sd_b = rng.uniform(1, 30, 50), rng.uniform(1, 30, 50)
    m_a, m_b = rng.uniform(20, 80, 50), rng.uniform(20, 80, 50)
    t, df, p = change_test(m_b - m_a, sd_a / np.sqrt(n_a), sd_b / np.sqrt(n_b), n_a, n_b, n_a, n_b)
    ref = sps.ttest_ind_from_stats(m_b, sd_b, n_b, m_a, sd_a, n_a, equal_var=False)
    assert t == pytest.approx(ref.statistic, rel=1e-9)
    assert p == pytest.approx(ref.pvalue, rel=1e-9)
    va, vb = sd_a**2 / n_a, sd_b**2 / n_b
    assert df == pytest.approx((va + vb) ** 2 / (va**2 / (n_a - 1) + vb**2 / (n_b - 1)))


def test_trend_changes_are_welch_tests_on_the_raw_answers(
    app: FastAPI, session: Session, synthetic: Callable[..., Synthetic]
) -> None:
    syn = synthetic(n=700, units=3, areas=2, seed=4, days=59)
    res = indicators.trends(session, campaign_id=syn.campaign_id, period="month")
    changes = [c for c in res.changes or [] if not c["suppressed"]]
    assert len(changes) == 3 * (len(DIMENSIONS) + 1)
    scores: dict[tuple[Any, ...], list[float]] = defaultdict(list)
    for a in oracle.raw_answers(app.state.engine, syn.campaign_id):
        key = (a["unit"], a["dimension"], a["month"])
        scores[key].append(100 * (a["v"] - a["lo"]) / (a["hi"] - a["lo"]))
    for c in changes:
        before = scores[(c["unit_code"], c["dimension"], c["from"][:7])]
        after = scores[(c["unit_code"], c["dimension"], c["to"][:7])]
        ref = sps.ttest_ind(after, before, equal_var=False)
        assert c["test"] == "welch"
        assert c["change"] == pytest.approx(np.mean(after) - np.mean(before), abs=1e-5)
        assert c["t"] == pytest.approx(ref.statistic, abs=1e-5)
        assert c["df"] == pytest.approx(ref.df, abs=1e-3)
        assert c["p_value"] == pytest.approx(ref.pvalue, abs=1e-6)
    p = np.array([c["p_value"] for c in changes])
    q = sps.false_discovery_control(p)
    assert [c["q_value"] for c in changes] == pytest.approx(q.tolist(), abs=1e-7)
    assert [c["alert"] for c in changes] == [bool(x < 0.05) for x in q]
    assert "Welch" in res.method["test"]


def test_weighted_changes_use_satterthwaite_degrees_of_freedom(
    app: FastAPI, session: Session, synthetic: Callable[..., Synthetic]
) -> None:
    """Weighted trends: each period's Taylor SE has (sum w^2)^2 / sum w^4 - 1 degrees of
    freedom, fewer than the Kish n_eff - 1 (which raised 5.5-6.4% false alarms)."""
    syn = synthetic(n=700, units=3, areas=3, seed=9, days=59, comment_share=0.0)
    margins = {
        "area": {c: 1 / 3 for c in syn.area_codes},
        "age_band": {"18-29": 0.2, "30-44": 0.3, "45-59": 0.3, "60+": 0.2},
        "sex": {"female": 0.5, "male": 0.5},
    }
    people = oracle.respondents(app.state.engine, syn.campaign_id)
    weights = oracle.block_mean_weights(people, oracle.rake_per_respondent(people, margins), k=5)
    cells: dict[tuple[Any, ...], list[tuple[float, float]]] = defaultdict(list)
    for a in oracle.raw_answers(app.state.engine, syn.campaign_id):
        score = 100 * (a["v"] - a["lo"]) / (a["hi"] - a["lo"])
        cells[(a["unit"], a["dimension"], a["month"])].append((score, weights[a["rid"]]))

    def period(key: tuple[Any, ...]) -> tuple[float, float, float]:
        y, w = (np.array(x) for x in zip(*cells[key], strict=True))
        m = float((w * y).sum() / w.sum())
        var = len(y) / (len(y) - 1) * float((w * w * (y - m) ** 2).sum()) / w.sum() ** 2
        return m, var, float((w * w).sum() ** 2 / (w**4).sum() - 1)

    res = indicators.trends(session, campaign_id=syn.campaign_id, period="month", weighted=True)
    changes = [c for c in res.changes or [] if not c["suppressed"]]
    assert changes
    for c in changes:
        ma, va, dfa = period((c["unit_code"], c["dimension"], c["from"][:7]))
        mb, vb, dfb = period((c["unit_code"], c["dimension"], c["to"][:7]))
        df = (va + vb) ** 2 / (va**2 / dfa + vb**2 / dfb)
        t = (mb - ma) / np.sqrt(va + vb)
        assert c["t"] == pytest.approx(t, abs=1e-5)
        assert c["df"] == pytest.approx(df, abs=1e-3)
        assert c["p_value"] == pytest.approx(2 * sps.t.sf(abs(t), df), abs=1e-6)
    assert "sum w^4" in res.method["test"]


def test_two_periods_without_spread_are_tested_exactly(app: FastAPI, session: Session) -> None:
    """Everyone answers 5 in January and 4 in February: a drop from 100 to 75 with no spread.
    A z (or t) statistic is infinite or undefined; the exact permutation test says how rare
    the split is when the months do not differ: 2 / C(12, 6)."""
    syn = make_campaign(app.state.engine, units=1, areas=1, prefix="flat")
    jan = [(0, 24 * i, {"q_attitude": 5, "q_results": 3 + i % 2, "q_nps": 8}) for i in range(6)]
    feb = [
        (0, 24 * (31 + i), {"q_attitude": 4, "q_results": 4 + i % 2, "q_nps": 8}) for i in range(6)
    ]
    _respond(app.state.engine, syn, jan + feb)
    res = indicators.trends(session, campaign_id=syn.campaign_id, period="month")
    by_dim = {c["dimension"]: c for c in res.changes or []}
    flat = by_dim["attitude"]
    assert (flat["score_from"], flat["score_to"], flat["change"]) == (100.0, 75.0, -25.0)
    assert flat["test"] == "permutation" and flat["t"] is None and flat["direction"] == "down"
    assert flat["p_value"] == pytest.approx(2 / comb(12, 6), abs=1e-8)
    # Brute force over every split of the 12 respondents into two months of 6.
    pooled = np.array([100.0] * 6 + [75.0] * 6)
    splits = np.array(
        [
            [(mask >> j) & 1 for j in range(12)]
            for mask in range(1 << 12)
            if bin(mask).count("1") == 6
        ],
        dtype=bool,
    )
    diffs = np.array([pooled[~s].mean() - pooled[s].mean() for s in splits])
    assert flat["p_value"] == pytest.approx(float((np.abs(diffs) >= 25 - 1e-9).mean()), abs=1e-8)
    # No spread and no change: nothing to report, p = 1.
    same = by_dim["nps"]
    assert same["change"] == 0 and same["t"] == 0 and same["p_value"] == 1
    # One month without spread: Welch with the other month's degrees of freedom.
    # Spread in both months (50/75, then 75/100): the ordinary Welch test.
    results = by_dim["results"]
    assert results["test"] == "welch" and results["change"] == 25
    ref = sps.ttest_ind([75.0, 100.0] * 3, [50.0, 75.0] * 3, equal_var=False)
    assert results["t"] == pytest.approx(ref.statistic, abs=1e-5)
    assert results["p_value"] == pytest.approx(ref.pvalue, abs=1e-7)


def test_suppressed_nps_cell_does_not_withhold_a_unit_ranked_without_nps(
    app: FastAPI, session: Session
) -> None:
    """A unit whose NPS cell is suppressed (3 of its 8 respondents answered it) is still ranked
    on the dimensions: the index uses no NPS, so nothing about it is published. A suppressed
    dimension cell withholds a unit only while that dimension carries weight."""
    syn = make_campaign(app.state.engine, units=3, areas=1, prefix="rk")
    rng = np.random.default_rng(9)
    people = []
    for unit in range(3):
        for i in range(8):
            values = {f"q_{d}": float(rng.integers(2 + unit, 6)) for d in DIMENSIONS}
            if unit == 1 and i >= 3:
                del values["q_results"]
            if unit != 2 or i < 3:
                values["q_nps"] = float(rng.integers(5, 11))
            people.append((unit, 24 * i, values))
    _respond(app.state.engine, syn, people)
    cells = indicators.compute(session, campaign_id=syn.campaign_id, by="unit,dimension").rows
    nps_cell = next(
        r for r in cells if r["unit_code"] == syn.unit_codes[2] and r["dimension"] == "nps"
    )
    assert nps_cell["suppressed"] and nps_cell["suppression"] == "primary"
    # Every weight on: unit 2 (NPS suppressed) is ranked, unit 1 (results suppressed) is not.
    res = indicators.ranking(session, campaign_id=syn.campaign_id)
    withheld = [r["unit_code"] for r in res.rows if r["suppressed"]]
    assert withheld == [syn.unit_codes[1]]
    assert all("index" not in r for r in res.rows if r["suppressed"])
    # Results weighted 0: every unit is ranked, on the cells the index uses.
    weights = {d: (0.0 if d == "results" else 1.0) for d in DIMENSIONS}
    res = indicators.ranking(session, campaign_id=syn.campaign_id, dimension_weights=weights)
    ranked = {r["unit_code"]: r for r in res.rows}
    assert set(ranked) == set(syn.unit_codes)
    assert not any(r["suppressed"] for r in res.rows)
    shrunk = {
        (r["unit_code"], r["dimension"]): r["shrunk_score"] for r in cells if not r["suppressed"]
    }
    for code, r in ranked.items():
        expected = np.mean([shrunk[(code, d)] for d in DIMENSIONS if d != "results"])
        assert r["index"] == pytest.approx(expected, abs=1e-5)
