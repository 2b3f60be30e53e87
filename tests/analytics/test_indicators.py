"""Every statistic against an independent numpy/scipy computation on the raw answers."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from sqlmodel import Session

from analytics import indicators
from tests.analytics import oracle
from tests.synthetic import Synthetic, add_responses

STATS = (
    "mean",
    "ci_low",
    "ci_high",
    "score",
    "score_ci_low",
    "score_ci_high",
    "satisfaction_rate",
    "satisfaction_ci_low",
    "satisfaction_ci_high",
)


def _close(row: dict[str, Any], ref: dict[str, float], keys: tuple[str, ...] = STATS) -> None:
    for k in keys:
        assert row[k] == pytest.approx(ref[k], abs=2e-6), k


@pytest.fixture
def campaign(synthetic: Callable[..., Synthetic]) -> Synthetic:
    return synthetic(n=1500, units=8, areas=3, seed=11)


def test_unit_dimension_matches_numpy(app: FastAPI, session: Session, campaign: Synthetic) -> None:
    res = indicators.compute(session, campaign_id=campaign.campaign_id, by="unit,dimension")
    answers = oracle.raw_answers(app.state.engine, campaign.campaign_id)
    ref = oracle.group(answers, ["unit", "dimension"])
    assert len(res.rows) == len(ref) == 8 * 5
    for row in res.rows:
        items = ref[(row["unit_code"], row["dimension"])]
        assert row["n"] == len(items) and not row["suppressed"]
        _close(row, oracle.plain_stats(items))
        assert row["sd"] == pytest.approx(np.std([a["v"] for a in items], ddof=1), abs=1e-6)
        if row["dimension"] == "nps":
            v = np.array([a["v"] for a in items])
            nps = 100 * ((v >= 9).mean() - (v <= 6).mean())
            assert row["nps"] == pytest.approx(nps, abs=1e-6)
            assert row["nps_ci_low"] < nps < row["nps_ci_high"]
    assert res.method["source"] == "stat_unit"
    assert res.method["min_group_size"] == 5


@pytest.mark.parametrize(
    ("by", "period", "keys"),
    [
        ("dimension", None, ["dimension"]),
        ("area,dimension", None, ["area", "dimension"]),
        ("age_band,sex,dimension", None, ["age_band", "sex", "dimension"]),
        ("unit,dimension", "month", ["unit", "dimension", "month"]),
        ("sex,dimension", "month", ["sex", "dimension", "month"]),
    ],
)
def test_groupings_match_numpy(
    app: FastAPI,
    session: Session,
    campaign: Synthetic,
    by: str,
    period: str | None,
    keys: list[str],
) -> None:
    res = indicators.compute(
        session, campaign_id=campaign.campaign_id, by=by, period=period, min_group_size=1
    )
    answers = oracle.raw_answers(app.state.engine, campaign.campaign_id)
    ref = oracle.group(answers, keys)
    assert len(res.rows) == len(ref)
    names = {"unit": "unit_code", "area": "area_code", "month": "period"}
    for row in res.rows:
        key = tuple(row[names.get(k, k)] for k in keys)
        items = ref[key]
        if len(items) < 2:
            continue
        _close(row, oracle.plain_stats(items))


def test_pooled_rows_count_respondents_not_answers(
    app: FastAPI, session: Session, campaign: Synthetic
) -> None:
    res = indicators.compute(session, campaign_id=campaign.campaign_id, by="unit")
    answers = [
        a
        for a in oracle.raw_answers(app.state.engine, campaign.campaign_id)
        if a["type"] == "rating"
    ]
    people = oracle.respondents(app.state.engine, campaign.campaign_id)
    for row in res.rows:
        items = [a for a in answers if a["unit"] == row["unit_code"]]
        ref = oracle.plain_stats(items)
        assert row["mean"] == pytest.approx(ref["mean"], abs=1e-6)
        assert row["n"] == sum(1 for p in people if p["unit"] == row["unit_code"])
        assert row["n_answers"] == len(items)
        # Several answers per respondent: the interval is wider than if they were independent.
        assert row["ci_high"] - row["ci_low"] > ref["ci_high"] - ref["ci_low"]


def test_flagged_responses_are_excluded_unless_asked(
    app: FastAPI, session: Session, campaign: Synthetic
) -> None:
    out = indicators.compute(session, campaign_id=campaign.campaign_id, by="dimension")
    inc = indicators.compute(
        session, campaign_id=campaign.campaign_id, by="dimension", include_flagged=True
    )
    all_answers = oracle.raw_answers(app.state.engine, campaign.campaign_id, include_flagged=True)
    ref = oracle.group(all_answers, ["dimension"])
    for a, b in zip(out.rows, inc.rows, strict=True):
        assert a["n"] < b["n"] == len(ref[(b["dimension"],)])
        _close(b, oracle.plain_stats(ref[(b["dimension"],)]))


def test_weighted_matches_design_based_numpy(
    app: FastAPI, session: Session, campaign: Synthetic
) -> None:
    res = indicators.compute(
        session, campaign_id=campaign.campaign_id, by="unit,dimension", weighted=True
    )
    people = oracle.respondents(app.state.engine, campaign.campaign_id)
    margins = {
        "area": {c: 1 / 3 for c in campaign.area_codes},
        "age_band": {"18-29": 0.2, "30-44": 0.3, "45-59": 0.3, "60+": 0.2},
        "sex": {"female": 0.5, "male": 0.5},
    }
    weights = oracle.rake_per_respondent(people, margins)
    # The weights reproduce the population margins.
    w = np.array([weights[p["rid"]] for p in people])
    female = np.array([p["sex"] == "female" for p in people])
    assert w[female].sum() / w.sum() == pytest.approx(0.5, abs=1e-9)
    # Published weights are averaged within disclosure blocks (docs/methodology.md).
    weights = oracle.block_mean_weights(people, weights)
    w = np.array([weights[p["rid"]] for p in people])
    answers = oracle.raw_answers(app.state.engine, campaign.campaign_id)
    ref = oracle.group(answers, ["unit", "dimension"])
    unweighted = indicators.compute(session, campaign_id=campaign.campaign_id, by="unit,dimension")
    for row, plain in zip(res.rows, unweighted.rows, strict=True):
        if row["suppressed"]:
            continue
        wref = oracle.weighted_stats(ref[(row["unit_code"], row["dimension"])], weights)
        _close(row, wref)
        assert row["n_eff"] == pytest.approx(wref["n_eff"], abs=0.01)
        assert row["df"] == pytest.approx(wref["df"], abs=0.01)
        assert row["n_eff"] < plain["n_eff"]
        assert row["df"] < row["n_eff"] - 1
    rep = res.method["weighting"]
    assert rep["converged"] and rep["n_eff"] < rep["n"]
    assert rep["n_eff"] <= rep["n"]


def test_small_sample_cannot_outrank_a_large_one(
    app: FastAPI, session: Session, synthetic: Callable[..., Synthetic]
) -> None:
    # Units differ by a few points, as public bodies usually do.
    syn = synthetic(n=3600, units=12, areas=2, seed=5, unit_sizes=[1.0] * 12, spread=0.25)
    # A new unit with 3 perfect answers against the best established unit.
    from sqlalchemy import insert

    from surveys.forms.models import CampaignUnit
    from surveys.units.models import Unit

    with app.state.engine.begin() as conn:
        uid = conn.execute(
            insert(Unit).values(code="tiny", name="小", kind="department")
        ).inserted_primary_key[0]
        conn.execute(insert(CampaignUnit).values(campaign_id=syn.campaign_id, unit_id=uid))
    syn.unit_ids.append(int(uid))
    syn.unit_codes.append("tiny")
    sizes = [0.0] * 12 + [1.0]
    add_responses(app.state.engine, syn, n=3, seed=9, unit_sizes=sizes, flagged_share=0.0)
    from sqlalchemy import text

    with app.state.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE response_answer SET value_num = CASE WHEN question_key = 'q_nps' THEN 10 ELSE 5 END "
                "WHERE value_num IS NOT NULL AND response_id IN "
                "(SELECT id FROM survey_response WHERE unit_id = :u)"
            ),
            {"u": uid},
        )
        from surveys.forms.stats import rebuild

        rebuild(conn, campaign_id=syn.campaign_id)
    res = indicators.compute(
        session, campaign_id=syn.campaign_id, by="unit,dimension", min_group_size=1
    )
    rows = [r for r in res.rows if r["dimension"] == "attitude"]
    tiny = next(r for r in rows if r["unit_code"] == "tiny")
    best = max((r for r in rows if r["unit_code"] != "tiny"), key=lambda r: r["score"])
    assert tiny["score"] == 100.0 > best["score"]
    assert tiny["shrunk_score"] < best["shrunk_score"]
    # A large unit moves little: far less than the "prior weight = median count" recipe would.
    fam = next(
        f for f in res.method["shrinkage"]["families"] if f["family"] == {"dimension": "attitude"}
    )
    n_best = best["n"]
    median_n = float(np.median([r["n"] for r in rows]))
    moved = abs(best["shrunk_score"] - best["score"]) / abs(best["score"] - fam["overall_mean"])
    assert moved < 0.5 * median_n / (n_best + median_n)
    # The model itself (shrunk scores, intervals, composite) is recomputed from the raw answers
    # by direct numerical integration in test_shrinkage.py.


def test_ranking_index_and_rank_ranges(
    app: FastAPI, session: Session, synthetic: Callable[..., Synthetic]
) -> None:
    syn = synthetic(n=2000, units=10, areas=2, seed=3)
    res = indicators.ranking(session, campaign_id=syn.campaign_id)
    rows = res.rows
    assert [r["rank"] for r in rows] == list(range(1, 11))
    ind = indicators.compute(session, campaign_id=syn.campaign_id, by="unit,dimension")
    by_unit: dict[str, dict[str, float]] = {}
    for r in ind.rows:
        by_unit.setdefault(r["unit_code"], {})[r["dimension"]] = r["shrunk_score"]
    for r in rows:
        dims = by_unit[r["unit_code"]]
        expected = np.mean([dims[d] for d in ("attitude", "efficiency", "integrity", "results")])
        assert r["index"] == pytest.approx(expected, abs=1e-5)
        assert r["rank_low"] <= r["rank"] <= r["rank_high"]
        assert r["ci_low"] < r["index"] < r["ci_high"]
    # Overlapping intervals are never presented as clearly ordered.
    overlapping = 0
    for a in rows:
        for b in rows:
            if a is not b and a["ci_low"] <= b["ci_high"] and b["ci_low"] <= a["ci_high"]:
                overlapping += 1
                assert a["rank_low"] <= b["rank_high"] and b["rank_low"] <= a["rank_high"]
        assert r["rank_low_sim"] <= r["rank_high_sim"]
    assert overlapping
    # Evaluator weights change the index.
    heavy = indicators.ranking(
        session, campaign_id=syn.campaign_id, dimension_weights={"results": 3}
    )
    r0 = heavy.rows[0]
    dims = by_unit[r0["unit_code"]]
    expected = (3 * dims["results"] + dims["attitude"] + dims["efficiency"] + dims["integrity"]) / 6
    assert r0["index"] == pytest.approx(expected, abs=1e-5)
    assert heavy.method["dimension_weights"]["results"] == 3


def test_trend_alert_is_a_test_not_a_fixed_delta(
    app: FastAPI, session: Session, synthetic: Callable[..., Synthetic]
) -> None:
    syn = synthetic(n=1200, units=3, areas=2, seed=4, days=59)
    res = indicators.trends(session, campaign_id=syn.campaign_id, period="month")
    changes = [c for c in res.changes or [] if not c["suppressed"]]
    assert changes
    from scipy import stats as sps

    by = {(r["unit_code"], r["dimension"], r["period"]): r for r in res.rows}
    ps = []
    for c in changes:
        a = by[(c["unit_code"], c["dimension"], c["from"])]
        b = by[(c["unit_code"], c["dimension"], c["to"])]
        ref = sps.ttest_ind_from_stats(
            b["score"],
            b["score_se"] * np.sqrt(b["n_eff"]),
            b["n_eff"],
            a["score"],
            a["score_se"] * np.sqrt(a["n_eff"]),
            a["n_eff"],
            equal_var=False,
        )
        assert c["p_value"] == pytest.approx(ref.pvalue, abs=1e-6)
        ps.append(c["p_value"])
    # Same quality throughout: no alerts expected at a 5% false discovery rate.
    assert not any(c["alert"] for c in changes)
    p = np.array([0.01, 0.04, 0.03, 0.5, 0.002])
    q = indicators.benjamini_hochberg(p)
    assert q.tolist() == pytest.approx(sps.false_discovery_control(p).tolist())


_RESULTS: dict[str, Any] = {}


def test_identical_on_both_databases(
    app: FastAPI, session: Session, synthetic: Callable[..., Synthetic], database_url: str
) -> None:
    syn = synthetic(n=900, units=6, areas=3, seed=21)
    out = {
        "ind": indicators.compute(session, campaign_id=syn.campaign_id, by="unit,dimension").rows,
        "per": indicators.compute(
            session, campaign_id=syn.campaign_id, by="dimension", period="week"
        ).rows,
        "w": indicators.compute(
            session, campaign_id=syn.campaign_id, by="area,dimension", weighted=True
        ).rows,
        "rank": indicators.ranking(session, campaign_id=syn.campaign_id).rows,
    }
    backend = database_url.split(":")[0]
    for other, previous in _RESULTS.items():
        if other != backend:
            assert out == previous
    _RESULTS[backend] = out


def test_a_month_is_the_slice_of_the_monthly_table(
    app: FastAPI, session: Session, campaign: Synthetic
) -> None:
    # The synthetic responses run from 2026-01-01 for 90 days: February is one month of them.
    cid = campaign.campaign_id
    answers = [a for a in oracle.raw_answers(app.state.engine, cid) if a["month"] == "2026-02"]
    ref = oracle.group(answers, ["unit", "dimension"])
    res = indicators.compute(session, campaign_id=cid, by="unit,dimension", month="2026-02")
    assert res.method["month"] == "2026-02" and res.method["period"] is None
    assert len(res.rows) == len(ref) == 8 * 5
    monthly = indicators.compute(session, campaign_id=cid, by="unit,dimension", period="month")
    february = {
        (r["unit_code"], r["dimension"]): r for r in monthly.rows if r["period"] == "2026-02"
    }
    for row in res.rows:
        items = ref[(row["unit_code"], row["dimension"])]
        assert row["n"] == len(items) and not row["suppressed"] and "period" not in row
        _close(row, oracle.plain_stats(items))
        # Never a figure the monthly table does not show: the same cell, shrunk the same way.
        assert row == {
            k: v for k, v in february[(row["unit_code"], row["dimension"])].items() if k != "period"
        }
    # With a period, the periods that start in the month; trends keep the changes into them.
    weeks = indicators.compute(
        session, campaign_id=cid, by="dimension", period="week", month="2026-02"
    )
    assert {r["period"] for r in weeks.rows} == {
        "2026-02-02",
        "2026-02-09",
        "2026-02-16",
        "2026-02-23",
    }
    trend = indicators.trends(session, campaign_id=cid, period="month", month="2026-02")
    assert {r["period"] for r in trend.rows} == {"2026-02"}
    assert trend.changes and {c["to"] for c in trend.changes} == {"2026-02"}
    assert indicators.compute(session, campaign_id=cid, by="dimension", month="2027-05").rows == []


def test_validation_errors(session: Session, campaign: Synthetic) -> None:
    from service.errors import Invalid, NotFound

    with pytest.raises(Invalid):
        indicators.compute(session, campaign_id=campaign.campaign_id, by="unit,colour")
    with pytest.raises(Invalid):
        indicators.compute(session, campaign_id=campaign.campaign_id, period="year")
    with pytest.raises(Invalid):
        indicators.compute(session, campaign_id=campaign.campaign_id, unit_code="nope")
    with pytest.raises(Invalid):
        indicators.ranking(session, campaign_id=campaign.campaign_id, dimension_weights={"x": 1})
    with pytest.raises(Invalid):
        indicators.compute(session, campaign_id=campaign.campaign_id, month="2026-13")
    with pytest.raises(NotFound):
        indicators.compute(session, campaign_id=999999)


def test_rake_reaches_margins() -> None:
    cells = [(1, "a", "f"), (1, "b", "m"), (2, "a", "m"), (2, "b", "f")]
    counts = np.array([40.0, 10.0, 30.0, 20.0])
    w, rep = indicators.rake(
        cells, counts, {"area": {1: 0.5, 2: 0.5}, "age_band": {"a": 0.3, "b": 0.7}, "sex": {}}
    )
    tot = (w * counts).sum()
    assert rep["converged"]
    assert (w * counts)[:2].sum() / tot == pytest.approx(0.5)
    assert (w * counts)[[0, 2]].sum() / tot == pytest.approx(0.3)


def test_shrink_without_spread_within_groups_keeps_the_means() -> None:
    # Every answer the same within each group: no sampling noise to shrink away. The means
    # stand unshrunk with zero spread, the reason is reported, and numpy raises no warning.
    mean, n = np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 3.0, 4.0, 5.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        shrunk, post_sd, params = indicators.shrink(mean, np.zeros(4), n)
    assert shrunk.tolist() == mean.tolist() and (post_sd == 0).all()
    assert params["applied"] is False and params["sigma2_within"] == 0.0
    assert params["kappa"] is None and "no spread within groups" in params["reason"]
