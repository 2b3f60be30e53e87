"""Respondents, not answers: dimensions of several questions, and ties in the ranking.

A dimension of several questions gets answers from the same respondents, which correlate. The
interval of its mean is recomputed here from the raw answers with the respondent-clustered
(cluster-robust) standard error, in plain numpy, and compared with the product's. Ties: two
units with identical answers get the same rank and the same plausible-rank range.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from scipy import stats as sps
from sqlmodel import Session

from analytics import indicators
from tests.analytics import oracle
from tests.synthetic import Synthetic, add_answers, make_campaign

QUESTIONS: dict[str, dict[str, Any]] = {
    # Two questions of one dimension, and a dimension of one question.
    "q_wait": {"type": "rating", "dimension": "service", "min": 1, "max": 5},
    "q_help": {"type": "rating", "dimension": "service", "min": 1, "max": 5},
    "q_clean": {"type": "rating", "dimension": "place", "min": 1, "max": 5},
}


def _people(n: int, rho: float, seed: int) -> list[dict[str, Any]]:
    """``n`` respondents who answer every question; within a respondent the latent answers
    correlate with ``rho`` (1 copies the first answer to the second question)."""
    rng = np.random.default_rng(seed)
    people = []
    for _ in range(n):
        u = rng.standard_normal()
        e = rng.standard_normal(2)
        z = np.sqrt(rho) * u + np.sqrt(1 - rho) * e
        wait, help_ = (int(np.clip(np.round(3.3 + 1.2 * x), 1, 5)) for x in z)
        if rho == 1.0:
            help_ = wait
        clean = int(rng.integers(1, 6))
        people.append({"answers": {"q_wait": wait, "q_help": help_, "q_clean": clean}})
    return people


def _clustered(items: list[dict[str, Any]], y: str) -> tuple[float, float, float, int, int]:
    """(mean, cluster-robust SE with the G/(G-1) correction, naive SE, answers, respondents)
    of the answers ``items``, clustered by respondent."""
    vals = np.array([a[y] for a in items])
    rid = np.array([a["rid"] for a in items])
    mean = float(vals.mean())
    big_n = len(vals)
    _u, cl = np.unique(rid, return_inverse=True)
    g = int(cl.max()) + 1
    score = np.bincount(cl, weights=vals - mean, minlength=g)  # sum of residuals per respondent
    se_cr1 = float(np.sqrt(g / (g - 1) * (score * score).sum()) / big_n)
    se_naive = float(sps.sem(vals))
    return mean, se_cr1, se_naive, big_n, g


def _campaign(app: FastAPI, prefix: str, people: list[dict[str, Any]]) -> Synthetic:
    syn = make_campaign(app.state.engine, units=4, areas=2, prefix=prefix, questions=QUESTIONS)
    add_answers(app.state.engine, syn, people)
    return syn


@pytest.mark.parametrize("rho", [0.0, 0.5, 1.0])
def test_dimension_interval_is_at_least_the_clustered_one(
    app: FastAPI, session: Session, rho: float
) -> None:
    syn = _campaign(app, f"cl{int(rho * 10)}", _people(12, rho, seed=16))
    res = indicators.compute(session, campaign_id=syn.campaign_id, by="dimension")
    rows = {r["dimension"]: r for r in res.rows}
    answers = oracle.raw_answers(app.state.engine, syn.campaign_id)
    for a in answers:
        a["score"] = 100 * (a["v"] - a["lo"]) / (a["hi"] - a["lo"])
    service = [a for a in answers if a["dimension"] == "service"]
    row = rows["service"]
    assert not row["suppressed"]
    assert row["n"] == 12 and row["n_answers"] == 24
    # Precision counts respondents: the effective size is 12, not the 24 answers.
    assert row["n_eff"] == pytest.approx(12.0, abs=0.01)
    for y, low, high in (("v", "ci_low", "ci_high"), ("score", "score_ci_low", "score_ci_high")):
        mean, se_cr1, se_naive, big_n, g = _clustered(service, y)
        t_g = sps.t.ppf(0.975, g - 1)
        half = (row[high] - row[low]) / 2
        assert (row[high] + row[low]) / 2 == pytest.approx(mean, abs=1e-5)
        # By Cauchy-Schwarz, (sum of a respondent's m residuals)^2 <= m * (sum of their
        # squares): with every question answered, SE = sqrt(m) * naive SE is never below the
        # cluster-robust SE without its small-sample correction, i.e. CR1 * sqrt((G-1)/G),
        # times sqrt(N/(N-1)) for the naive SE's own correction. Equal when the answers are
        # perfectly correlated, so the bound is tight.
        floor = t_g * se_cr1 * np.sqrt((g - 1) / g * big_n / (big_n - 1))
        assert half >= floor - 1e-5, (y, rho)
        if rho == 1.0:
            assert half == pytest.approx(floor, abs=1e-5)
        # At most the "perfectly correlated" factor above the answers-as-independent interval
        # (t on the respondents' degrees of freedom): never wider than that.
        ceiling = t_g * np.sqrt(big_n / g) * se_naive
        assert half == pytest.approx(ceiling, abs=1e-5)
        # And wider than what counting the 24 answers as independent gave.
        assert half > sps.t.ppf(0.975, big_n - 1) * se_naive * 1.4
    # The one-question dimension keeps its plain t interval on its answers.
    place = np.array([a["v"] for a in answers if a["dimension"] == "place"])
    plain = sps.t.ppf(0.975, len(place) - 1) * sps.sem(place)
    assert (rows["place"]["ci_high"] - rows["place"]["ci_low"]) / 2 == pytest.approx(
        plain, abs=1e-5
    )
    assert rows["place"]["n_eff"] == pytest.approx(12.0, abs=0.01)


def test_respondent_means_interval_is_covered(app: FastAPI, session: Session) -> None:
    # The textbook cluster interval (t on the respondents' means, scipy) lies within the
    # product's once the naive SE's own n/(n-1) is allowed for: the product never claims
    # more precision than the respondents give.
    syn = _campaign(app, "rm", _people(40, 0.5, seed=7))
    res = indicators.compute(session, campaign_id=syn.campaign_id, by="unit,dimension")
    (row,) = [r for r in res.rows if r["dimension"] == "service"]
    answers = [
        a for a in oracle.raw_answers(app.state.engine, syn.campaign_id) if a["key"] != "q_clean"
    ]
    by_rid: dict[int, list[float]] = {}
    for a in answers:
        by_rid.setdefault(a["rid"], []).append(a["v"])
    means = np.array([np.mean(v) for v in by_rid.values()])
    g, big_n = len(means), len(answers)
    low, high = sps.t.interval(0.95, g - 1, loc=means.mean(), scale=sps.sem(means))
    slack = (high - low) / 2 * (1 - np.sqrt((g - 1) / g * big_n / (big_n - 1)))
    assert row["ci_low"] <= low + slack + 1e-5
    assert row["ci_high"] >= high - slack - 1e-5


def test_identical_units_share_rank_and_range(app: FastAPI, session: Session) -> None:
    # Units 0 and 1 get exactly the same answers, unit 2 better ones, unit 3 worse ones.
    rng = np.random.default_rng(3)
    base = [
        {
            "q_wait": int(rng.integers(2, 5)),
            "q_help": int(rng.integers(2, 5)),
            "q_clean": int(rng.integers(2, 5)),
        }
        for _ in range(10)
    ]
    people: list[dict[str, Any]] = []
    for unit, shift in ((1, 0), (3, -1), (0, 0), (2, 1)):  # not in id order
        for ans in base:
            people.append(
                {"unit": unit, "answers": {k: min(5, max(1, v + shift)) for k, v in ans.items()}}
            )
    syn = _campaign(app, "tie", people)
    res = indicators.ranking(session, campaign_id=syn.campaign_id)
    rows = {r["unit_code"]: r for r in res.rows}
    assert not any(r["suppressed"] for r in rows.values())
    a, b = rows[syn.unit_codes[0]], rows[syn.unit_codes[1]]
    best, worst = rows[syn.unit_codes[2]], rows[syn.unit_codes[3]]
    assert a["index"] == b["index"]
    # Competition ranking: 1, 2, 2, 4.
    assert [best["rank"], a["rank"], b["rank"], worst["rank"]] == [1, 2, 2, 4]
    assert (a["rank_low"], a["rank_high"]) == (b["rank_low"], b["rank_high"])
    assert a["rank_low"] <= a["rank"] <= a["rank_high"]
    # Overlapping ranges: neither is presented as ahead of the other.
    assert a["rank_low"] <= b["rank_high"] and b["rank_low"] <= a["rank_high"]
    assert [r["rank"] for r in res.rows] == sorted(r["rank"] for r in res.rows)


def test_several_nps_questions_count_respondents(app: FastAPI, session: Session) -> None:
    """Two NPS questions of one dimension, answered alike by each respondent: the NPS interval
    is the one of the respondents (n = 12), not of their 24 answers."""
    questions = {
        "rec_friend": {"type": "nps", "dimension": "rec", "min": 0, "max": 10},
        "rec_family": {"type": "nps", "dimension": "rec", "min": 0, "max": 10},
        "q_clean": {"type": "rating", "dimension": "place", "min": 1, "max": 5},
    }
    rng = np.random.default_rng(8)
    people = []
    for unit in range(2):
        for _ in range(12):
            v = int(rng.integers(0, 11))
            people.append(
                {"unit": unit, "answers": {"rec_friend": v, "rec_family": v, "q_clean": 3}}
            )
    syn = make_campaign(app.state.engine, units=2, areas=1, prefix="nps2", questions=questions)
    add_answers(app.state.engine, syn, people)
    res = indicators.compute(session, campaign_id=syn.campaign_id, by="unit,dimension")
    rows = [r for r in res.rows if r["dimension"] == "rec"]
    assert len(rows) == 2
    for row in rows:
        unit = syn.unit_codes.index(row["unit_code"])
        v = np.array([p["answers"]["rec_friend"] for p in people if p["unit"] == unit])
        p, d, n = float((v >= 9).mean()), float((v <= 6).mean()), len(v)
        pa, da = (n * p + 1) / (n + 3), (n * d + 1) / (n + 3)
        half = 1.959963984540054 * np.sqrt((pa + da - (pa - da) ** 2) / (n + 3))
        assert row["n"] == 12 and row["n_answers"] == 24
        assert row["nps"] == pytest.approx(100 * (p - d), abs=1e-6)
        assert row["nps_ci_low"] == pytest.approx(max(-100, 100 * (pa - da - half)), abs=1e-5)
        assert row["nps_ci_high"] == pytest.approx(min(100, 100 * (pa - da + half)), abs=1e-5)
