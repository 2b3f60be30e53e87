"""NPS and the satisfied share on questionnaires of unusual shapes, recomputed from raw answers.

A dimension that mixes a rating question and an NPS question, and rating scales of 2, 3, 4, 5
and 7 points. The reference is written out by hand (which points are "satisfied" on each scale,
who is a promoter or a detractor) and computed answer by answer with numpy and scipy, so it
shares nothing with the product's code but the stored answers.
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
from tests.analytics.test_nps_interval import adjusted
from tests.synthetic import Synthetic, add_answers, make_campaign

QUESTIONS: dict[str, dict[str, Any]] = {
    # A dimension with a 1-5 rating and an NPS question.
    "q_att": {"type": "rating", "dimension": "attitude", "min": 1, "max": 5},
    "q_att_nps": {"type": "nps", "dimension": "attitude", "min": 0, "max": 10},
    "q_three": {"type": "rating", "dimension": "three", "min": 1, "max": 3},
    "q_four": {"type": "rating", "dimension": "four", "min": 1, "max": 4},
    "q_yes": {"type": "rating", "dimension": "yes_no", "min": 0, "max": 1},
    "q_two": {"type": "rating", "dimension": "two", "min": 1, "max": 2},
    "q_seven": {"type": "rating", "dimension": "seven", "min": 1, "max": 7},
    "q_nps": {"type": "nps", "dimension": None, "min": 0, "max": 10},
}

# The satisfied points of each scale, listed by hand (docs/methodology.md, section 2).
SATISFIED = {
    (1, 5): {4, 5},
    (1, 4): {3, 4},
    (1, 3): {3},
    (0, 1): {1},
    (1, 2): {2},
    (1, 7): {6, 7},
    (0, 10): {9, 10},
}
PROMOTERS = {9, 10}
DETRACTORS = {0, 1, 2, 3, 4, 5, 6}
NAMES = {"unit": "unit_code", "area": "area_code", "month": "period"}


def _survey(engine: Any, prefix: str, questions: dict[str, dict[str, Any]]) -> Synthetic:
    return make_campaign(engine, units=4, areas=3, prefix=prefix, questions=questions)


def _random_people(n: int, seed: int) -> list[dict[str, Any]]:
    """Answers drawn per question from its own scale, each question skipped now and then."""
    rng = np.random.default_rng(seed)
    people = []
    for _ in range(n):
        answers = {}
        for key, q in QUESTIONS.items():
            if rng.random() < 0.1:
                continue
            answers[key] = int(rng.integers(q["min"], q["max"] + 1))
        people.append(
            {
                "unit": int(rng.integers(0, 4)),
                "area": int(rng.integers(0, 3)),
                "age_band": str(rng.choice(["18-29", "30-44", "45-59", "60+"])),
                "sex": str(rng.choice(["female", "male"])),
                "hour": int(rng.integers(0, 90 * 24)),
                "answers": answers,
            }
        )
    return people


@pytest.fixture
def shaped(app: FastAPI) -> Synthetic:
    syn = _survey(app.state.engine, "shape", QUESTIONS)
    add_answers(app.state.engine, syn, _random_people(900, seed=16))
    return syn


def _satisfied(items: list[dict[str, Any]]) -> np.ndarray:
    return np.array([int(a["v"]) in SATISFIED[(int(a["lo"]), int(a["hi"]))] for a in items])


def _nps(items: list[dict[str, Any]]) -> tuple[float, float, int]:
    """(NPS, its standard error, answers) over the NPS answers among ``items``."""
    v = [int(a["v"]) for a in items if a["type"] == "nps"]
    y = np.array([(x in PROMOTERS) - (x in DETRACTORS) for x in v], dtype=float)
    return 100 * float(y.mean()), 100 * float(sps.sem(y)), len(v)


def _wilson(items: list[dict[str, Any]]) -> tuple[float, float, float]:
    top = _satisfied(items)
    per_question = np.unique([a["key"] for a in items], return_counts=True)[1]
    if len(per_question) == 1:
        ci = sps.binomtest(int(top.sum()), len(top)).proportion_ci(0.95, method="wilson")
        return float(top.mean()), float(ci.low), float(ci.high)
    # Several questions per respondent: the precision counts respondents (the most answers to
    # one question), not answers (docs/methodology.md, section 2).
    n, p, z = float(per_question.max()), float(top.mean()), float(sps.norm.ppf(0.975))
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return p, max(0.0, centre - half), min(1.0, centre + half)


@pytest.mark.parametrize(
    ("by", "period", "keys"),
    [
        ("unit,dimension", None, ["unit", "dimension"]),
        ("dimension", None, ["dimension"]),
        ("area,dimension", None, ["area", "dimension"]),
        ("sex,dimension", "month", ["sex", "dimension", "month"]),
    ],
)
def test_by_dimension_matches_raw_answers(
    app: FastAPI,
    session: Session,
    shaped: Synthetic,
    by: str,
    period: str | None,
    keys: list[str],
) -> None:
    res = indicators.compute(
        session, campaign_id=shaped.campaign_id, by=by, period=period, min_group_size=1
    )
    ref = oracle.group(oracle.raw_answers(app.state.engine, shaped.campaign_id), keys)
    assert len(res.rows) == len(ref)
    seen_nps = 0
    for row in res.rows:
        items = ref[tuple(row[NAMES.get(k, k)] for k in keys)]
        assert not row["suppressed"]
        p, low, high = _wilson(items)
        assert row["satisfaction_rate"] == pytest.approx(p, abs=2e-6)
        assert row["satisfaction_ci_low"] == pytest.approx(low, abs=2e-6)
        assert row["satisfaction_ci_high"] == pytest.approx(high, abs=2e-6)
        if any(a["type"] == "nps" for a in items):
            nps, _se, count = _nps(items)
            assert row["nps"] == pytest.approx(nps, abs=2e-6)
            v = np.array([a["v"] for a in items if a["type"] == "nps"])
            low, high = adjusted(float((v >= 9).mean()), float((v <= 6).mean()), count)
            assert row["nps_ci_low"] == pytest.approx(low, abs=1e-3)
            assert row["nps_ci_high"] == pytest.approx(high, abs=1e-3)
            seen_nps += 1
        else:
            assert row["nps"] is None
    assert seen_nps >= 2  # both the mixed dimension and the NPS-only one
    assert "midpoint" in res.method["satisfaction"]
    assert "NPS answers" in res.method["nps"]


@pytest.mark.parametrize("by", ["unit", "area", "sex"])
def test_pooled_rows_match_raw_answers(
    app: FastAPI, session: Session, shaped: Synthetic, by: str
) -> None:
    res = indicators.compute(session, campaign_id=shaped.campaign_id, by=by, min_group_size=1)
    answers = oracle.raw_answers(app.state.engine, shaped.campaign_id)
    ref = oracle.group(answers, [by])
    assert len(res.rows) == len(ref)
    for row in res.rows:
        items = ref[(row[NAMES.get(by, by)],)]
        ratings = [a for a in items if a["type"] == "rating"]
        assert row["satisfaction_rate"] == pytest.approx(_satisfied(ratings).mean(), abs=2e-6)
        nps, _se, _count = _nps(items)
        assert row["nps"] == pytest.approx(nps, abs=2e-6)


def test_mixed_dimension_nps_is_not_diluted(app: FastAPI, session: Session) -> None:
    # Six respondents: one promoter, three passives, two detractors (NPS -16.7), each also
    # rating the same dimension on 1-5. Counting the ratings as passives would give -8.3.
    syn = _survey(app.state.engine, "mix", QUESTIONS)
    nps_answers = [10, 8, 7, 8, 3, 6]
    add_answers(
        app.state.engine,
        syn,
        [{"answers": {"q_att": 5, "q_att_nps": v}} for v in nps_answers],
    )
    for by in ("dimension", "unit,dimension"):
        res = indicators.compute(session, campaign_id=syn.campaign_id, by=by)
        (row,) = [r for r in res.rows if r["dimension"] == "attitude"]
        assert row["nps"] == pytest.approx(-100 / 6, abs=1e-6), by
        assert row["n_answers"] == 12
    pooled = indicators.compute(session, campaign_id=syn.campaign_id, by="unit")
    assert pooled.rows[0]["nps"] == pytest.approx(-100 / 6, abs=1e-6)


def test_nps_needs_k_nps_answers_even_in_a_larger_dimension(app: FastAPI, session: Session) -> None:
    # Eight respondents rate the dimension, only three answer its NPS question: the cell is
    # published, its NPS (three answers) is not.
    syn = _survey(app.state.engine, "few", QUESTIONS)
    people = [{"answers": {"q_att": 4, "q_att_nps": 9}} for _ in range(3)]
    people += [{"answers": {"q_att": 2}} for _ in range(5)]
    add_answers(app.state.engine, syn, people)
    res = indicators.compute(session, campaign_id=syn.campaign_id, by="dimension")
    (row,) = res.rows
    assert not row["suppressed"] and row["n"] == 8
    assert row["nps"] is None and row["nps_ci_low"] is None


@pytest.mark.parametrize(
    ("key", "answers", "share"),
    [
        # Everyone at the bottom of a 2-point scale: nobody is satisfied (was 100%).
        ("q_yes", [0] * 6, 0.0),
        ("q_two", [1] * 6, 0.0),
        ("q_two", [1, 1, 1, 2, 2, 2], 0.5),
        # The neutral middle of a 3-point scale is not satisfied (was counted).
        ("q_three", [2] * 6, 0.0),
        ("q_three", [1, 2, 2, 3, 3, 3], 0.5),
        # A 4-point scale: the upper half.
        ("q_four", [1, 2, 2, 3, 4, 4], 0.5),
        # 5 and 7 points: the top two.
        ("q_att", [3, 3, 3, 4, 5, 5], 0.5),
        ("q_seven", [4, 5, 5, 6, 7, 7], 0.5),
    ],
)
def test_satisfied_share_on_short_scales(
    app: FastAPI, session: Session, key: str, answers: list[int], share: float
) -> None:
    syn = _survey(app.state.engine, "short", {key: QUESTIONS[key]})
    add_answers(app.state.engine, syn, [{"answers": {key: v}} for v in answers])
    res = indicators.compute(session, campaign_id=syn.campaign_id, by="dimension")
    (row,) = res.rows
    assert row["satisfaction_rate"] == pytest.approx(share, abs=1e-9)
    ci = sps.binomtest(round(share * 6), 6).proportion_ci(0.95, method="wilson")
    assert row["satisfaction_ci_low"] == pytest.approx(ci.low, abs=2e-6)
    assert row["satisfaction_ci_high"] == pytest.approx(ci.high, abs=2e-6)
