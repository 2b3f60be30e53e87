"""The distribution of answers (counts and shares per scale point, top-two and bottom-two
shares, Wilson interval of the top-two share) against a numpy/statsmodels recomputation from
the raw answers, through the API; its suppression; and its figure on literal rows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import plotly.io as pio
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session
from statsmodels.stats.proportion import proportion_confint

from analytics import figures as F
from tests.analytics import oracle
from tests.factories import headers_for
from tests.synthetic import Synthetic, add_answers, make_campaign

QUESTIONS: dict[str, dict[str, Any]] = {
    "q_five": {"type": "rating", "dimension": "service", "min": 1, "max": 5},
    "q_three": {"type": "rating", "dimension": "speed", "min": 1, "max": 3},
    "q_nps": {"type": "nps", "dimension": None, "min": 0, "max": 10},
}
_COUNTER = list(range(100))
# (top, bottom) points of each question, written out by hand.
ENDS = {
    "q_five": ({4, 5}, {1, 2}),
    "q_three": ({3}, {1}),
    "q_nps": ({9, 10}, {0, 1, 2, 3, 4, 5, 6}),
}


def _campaign(app: FastAPI, seed: int, spread: bool) -> Synthetic:
    """Unit 0: 30 respondents, unit 1: 20 split between the ends (polarised), unit 2: 2
    (primary), unit 3: 6 (the smallest block, which unit 2's respondents join: secondary).
    ``spread`` scatters respondents over areas, ages and sexes (for the weights)."""
    syn = make_campaign(app.state.engine, units=4, areas=2, prefix=f"d{seed}", questions=QUESTIONS)
    rng = np.random.default_rng(seed)
    people: list[dict[str, Any]] = []
    for unit, n in ((0, 30), (1, 20), (2, 2), (3, 6)):
        for _ in range(n):
            five = int(rng.choice([1, 5])) if unit == 1 else int(rng.integers(1, 6))
            answers: dict[str, float] = {"q_five": five, "q_nps": int(rng.integers(0, 11))}
            if rng.random() < 0.8:  # some skip the short question
                answers["q_three"] = int(rng.integers(1, 4))
            p: dict[str, Any] = {"unit": unit, "answers": answers}
            if spread and unit < 2:
                p.update(
                    area=int(rng.integers(0, 2)),
                    age_band=str(rng.choice(["18-29", "30-44", "45-59", "60+"])),
                    sex=str(rng.choice(["female", "male"])),
                )
            people.append(p)
    add_answers(app.state.engine, syn, people)
    return syn


def _get(client: TestClient, session: Session, syn: Synthetic, **params: Any) -> dict[str, Any]:
    h = headers_for(client, session, "evaluator", f"eval{_COUNTER.pop()}")
    r = client.get(f"/api/v1/campaigns/{syn.campaign_id}/distribution", params=params, headers=h)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _check(row: dict[str, Any], v: np.ndarray, w: np.ndarray) -> None:
    """The row's numbers recomputed from the answers v with weights w (ones: unweighted)."""
    top, bottom = ENDS[row["question"]]
    lo, hi = QUESTIONS[row["question"]]["min"], QUESTIONS[row["question"]]["max"]
    points = np.arange(lo, hi + 1)
    assert [p["value"] for p in row["points"]] == points.tolist()
    counts = np.array([(v == x).sum() for x in points])
    shares = np.array([w[v == x].sum() for x in points]) / w.sum()
    assert [p["count"] for p in row["points"]] == counts.tolist()
    assert [p["share"] for p in row["points"]] == pytest.approx(shares.tolist(), abs=1e-6)
    assert row["n"] == len(v)
    p_top = float(w[np.isin(v, list(top))].sum() / w.sum())
    assert row["top_share"] == pytest.approx(p_top, abs=1e-6)
    assert row["bottom_share"] == pytest.approx(
        float(w[np.isin(v, list(bottom))].sum() / w.sum()), abs=1e-6
    )
    neff = w.sum() ** 2 / (w * w).sum()
    assert row["n_eff"] == pytest.approx(neff, abs=0.01)
    # statsmodels' Wilson interval on the (effective) size: count = share * n_eff.
    low, high = proportion_confint(p_top * neff, neff, alpha=0.05, method="wilson")
    assert row["top_ci_low"] == pytest.approx(max(0.0, low), abs=1e-5)
    assert row["top_ci_high"] == pytest.approx(min(1.0, high), abs=1e-5)


def test_distribution_matches_raw_answers_and_suppresses(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    syn = _campaign(app, seed=161, spread=False)
    raw = oracle.raw_answers(app.state.engine, syn.campaign_id)
    body = _get(client, session, syn)
    rows = {(r["unit_code"], r["question"]): r for r in body["rows"]}
    assert len(rows) == 4 * 3
    # The same groups as the indicators view by unit are suppressed, for the same reason.
    h = headers_for(client, session, "evaluator")
    ind = client.get(
        f"/api/v1/campaigns/{syn.campaign_id}/indicators", params={"by": "unit"}, headers=h
    ).json()["rows"]
    reasons = {r["unit_code"]: r.get("suppression") for r in ind}
    assert reasons[syn.unit_codes[2]] == "primary"
    assert reasons[syn.unit_codes[3]] == "secondary"
    for (unit, _q), row in rows.items():
        assert row["suppressed"] == reasons[unit]
        if row["suppressed"]:
            numbers = {k for k, x in row.items() if isinstance(x, (int, float, list))}
            assert not numbers, numbers
            continue
        v = np.array([a["v"] for a in raw if a["unit"] == unit and a["key"] == row["question"]])
        _check(row, v, np.ones(len(v)))
    # The polarised unit: nobody in the middle, its mean (3) would hide it.
    pol = rows[(syn.unit_codes[1], "q_five")]
    assert pol["top_share"] + pol["bottom_share"] == pytest.approx(1.0)
    assert body["method"]["by"] == "unit"


def test_district_and_filters(app: FastAPI, client: TestClient, session: Session) -> None:
    syn = _campaign(app, seed=162, spread=False)
    raw = oracle.raw_answers(app.state.engine, syn.campaign_id)
    body = _get(client, session, syn, by="district")
    assert {r["question"] for r in body["rows"]} == set(QUESTIONS)
    for row in body["rows"]:
        assert row["unit_code"] is None and row["suppressed"] is None
        v = np.array([a["v"] for a in raw if a["key"] == row["question"]])
        _check(row, v, np.ones(len(v)))
    one = _get(client, session, syn, unit_code=syn.unit_codes[0], month="2026-01")
    assert {r["unit_code"] for r in one["rows"]} == {syn.unit_codes[0]}
    for row in one["rows"]:
        v = np.array(
            [a["v"] for a in raw if a["unit"] == syn.unit_codes[0] and a["key"] == row["question"]]
        )
        _check(row, v, np.ones(len(v)))
    assert _get(client, session, syn, month="2026-02")["rows"] == []


def test_weighted_shares_use_block_mean_weights(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    syn = _campaign(app, seed=163, spread=True)
    margins = {
        "area": {c: 1 / 2 for c in syn.area_codes},
        "age_band": {"18-29": 0.2, "30-44": 0.3, "45-59": 0.3, "60+": 0.2},
        "sex": {"female": 0.5, "male": 0.5},
    }
    people = oracle.respondents(app.state.engine, syn.campaign_id)
    weights = oracle.block_mean_weights(people, oracle.rake_per_respondent(people, margins), k=5)
    raw = oracle.raw_answers(app.state.engine, syn.campaign_id)
    body = _get(client, session, syn, by="district", weighted="true")
    assert body["rows"] and body["method"]["weighted"]
    for row in body["rows"]:
        items = [a for a in raw if a["key"] == row["question"]]
        v = np.array([a["v"] for a in items])
        w = np.array([weights[a["rid"]] for a in items])
        assert not np.allclose(w, w[0])
        _check(row, v, w)


def test_access_and_bad_parameters(
    app: FastAPI, client: TestClient, session: Session, synthetic: Callable[..., Synthetic]
) -> None:
    syn = make_campaign(app.state.engine, units=1, areas=1, prefix="dacc")
    url = f"/api/v1/campaigns/{syn.campaign_id}/distribution"
    assert client.get(url).status_code == 401
    assert client.get(url, headers=headers_for(client, session, "deputy")).status_code == 403
    h = headers_for(client, session, "evaluator")
    for params, field in (
        ({"by": "area"}, "by"),
        ({"month": "2026-13"}, "month"),
        ({"unit_code": "nope"}, "unit_code"),
        ({"weighted": "maybe"}, "weighted"),
    ):
        r = client.get(url, params=params, headers=h)
        assert r.status_code == 422, params
        assert r.json()["detail"][0]["loc"][-1] == field
    assert client.get("/api/v1/campaigns/999999/distribution", headers=h).status_code == 404


def _row(unit: str | None, question: str, shares: list[float], **kw: Any) -> dict[str, Any]:
    lo = 0 if question == "q_nps" else 1
    return {
        "unit_code": unit,
        "question": question,
        "type": "nps" if question == "q_nps" else "rating",
        "scale_min": lo,
        "scale_max": lo + len(shares) - 1,
        "points": [
            {"value": lo + i, "count": round(40 * s), "share": s} for i, s in enumerate(shares)
        ],
        "top_share": sum(shares[-2:]),
        "suppressed": None,
        **kw,
    }


def test_figure_on_literal_rows() -> None:
    secret = 0.87654
    rows = [
        _row("u1", "q_five", [0.5, 0.0, 0.0, 0.0, 0.5]),
        _row("u2", "q_five", [0.1, 0.1, 0.2, 0.3, 0.3]),
        # A suppressed row carrying planted numbers: none may reach the figure.
        {
            "unit_code": "u3",
            "question": "q_five",
            "type": "rating",
            "points": [{"value": 5, "count": 3, "share": secret}],
            "top_share": secret,
            "suppressed": "secondary",
        },
        _row("u1", "q_three", [0.2, 0.3, 0.5]),
    ]
    fig = F.distribution(rows, lang="en", names={"u1": "Unit <1>"}, question="q_five")
    text = pio.to_json(fig)
    assert "87.6" not in text and "0.87654" not in text
    assert "Unit &lt;1&gt;" in text and "Unit <1>" not in text
    bars = [t for t in fig.data if not (t.meta and t.meta.get("suppressed"))]
    assert {t.name for t in bars} == {"1", "2", "3", "4", "5"}
    # u1 (top-two 50%) sorted after u2 (60%); shares in percent per scale point.
    five = next(t for t in bars if t.name == "5")
    assert list(five.y) == ["u2", "Unit &lt;1&gt;"] and list(five.x) == [30.0, 50.0]
    # Diverging colours: the bottom red, the top green.
    one = next(t for t in bars if t.name == "1")
    assert one.marker.color[0] == "#c62828" and five.marker.color[0] == "#2e7d32"
    hidden = [t for t in fig.data if t.meta and t.meta.get("suppressed")]
    assert list(hidden[0].y) == ["u3"]
    assert {a.text for a in fig.layout.annotations} == {"60%", "50%"}
    # Per question for one unit; NPS coloured by promoter group.
    nps = _row("u1", "q_nps", [0.1] * 7 + [0.1, 0.1, 0.1, 0.0])
    fig = F.distribution(
        [*rows, nps], lang="zh-CN", unit_code="u1", question_labels={"q_nps": "推荐"}
    )
    assert set(fig.data[0].y) == {"q_five", "q_three", "推荐"}
    seven = next(t for t in fig.data if t.name == "7")
    assert seven.marker.color[0] != "#c62828"
    assert "答案分布" in fig.layout.title.text
    assert F.distribution([], lang="en").layout.annotations  # says there is no data


def test_dashboard_and_report_show_the_api_rows(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    syn = _campaign(app, seed=164, spread=False)
    h = headers_for(client, session, "evaluator", "dash-eval")
    cid = syn.campaign_id
    for params, api in (
        ({}, {"by": "district"}),
        ({"unit_code": syn.unit_codes[1]}, {"unit_code": syn.unit_codes[1]}),
    ):
        table = client.get(
            "/api/v1/tables/distribution",
            params={"campaign_id": cid, "format": "json", **params},
            headers=h,
        )
        assert table.status_code == 200
        rows = client.get(f"/api/v1/campaigns/{cid}/distribution", params=api, headers=h)
        assert _set(table.json()["rows"]) == _set(rows.json()["rows"])
        fig = client.get(
            "/api/v1/figures/distribution", params={"campaign_id": cid, **params}, headers=h
        )
        assert fig.status_code == 200
    report = client.get(f"/api/v1/reports/{cid}", headers=h)
    assert report.status_code == 200
    assert "答案分布" in report.text


def _set(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows without their empty fields (the API's schema lists them as null)."""
    return [{k: v for k, v in r.items() if v is not None} for r in rows]
