"""The difference between two units (or a unit and the district) against scipy's Welch test
and statsmodels' Holm correction on the raw answers, through the API, on both databases."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from scipy import stats as sps
from sqlmodel import Session
from statsmodels.stats.multitest import multipletests

from analytics.figures import difference_figure
from analytics.indicators.difference import holm
from tests.analytics import oracle
from tests.factories import headers_for
from tests.synthetic import DIMENSIONS, Synthetic, add_answers, make_campaign


def _campaign(app: FastAPI, prefix: str, sizes: list[int], shift: dict[int, float]) -> Synthetic:
    """Units of the given sizes; unit i's attitude answers are raised by shift[i] points (1-5
    scale); every other answer is drawn from the same distribution in every unit."""
    syn = make_campaign(app.state.engine, units=len(sizes), areas=1, prefix=prefix)
    rng = np.random.default_rng(len(prefix) + sum(sizes))
    people = []
    for unit, size in enumerate(sizes):
        for _ in range(size):
            values = {f"q_{d}": float(rng.integers(1, 6)) for d in DIMENSIONS}
            up = shift.get(unit, 0.0)
            values["q_attitude"] = float(np.clip(rng.integers(1, 6) + up, 1, 5))
            values["q_nps"] = float(rng.integers(0, 11))
            people.append({"unit": unit, "answers": values})
    add_answers(app.state.engine, syn, people)
    return syn


def _scores(app: FastAPI, syn: Synthetic) -> dict[tuple[str, str], list[float]]:
    out: dict[tuple[str, str], list[float]] = defaultdict(list)
    for a in oracle.raw_answers(app.state.engine, syn.campaign_id):
        if a["dimension"] in DIMENSIONS:
            out[(a["unit"], a["dimension"])].append(100 * (a["v"] - a["lo"]) / (a["hi"] - a["lo"]))
    return out


def _welch(x: list[float], y: list[float]) -> Any:
    return sps.ttest_ind_from_stats(
        np.mean(x), np.std(x, ddof=1), len(x), np.mean(y), np.std(y, ddof=1), len(y), False
    )


def _get(client: TestClient, h: dict[str, str], syn: Synthetic, **params: Any) -> Any:
    r = client.get(f"/api/v1/campaigns/{syn.campaign_id}/difference", params=params, headers=h)
    assert r.status_code == 200, r.text
    return r.json()


def _check_holm(rows: list[dict[str, Any]]) -> None:
    tested = [r for r in rows if not r["suppressed"]]
    reject, adj, _s, _b = multipletests([r["p_value"] for r in tested], method="holm")
    assert [r["p_holm"] for r in tested] == pytest.approx(adj.tolist(), abs=1e-7)
    for r, rej in zip(tested, reject, strict=True):
        want = "no clear difference" if not rej else ("higher" if r["difference"] > 0 else "lower")
        assert r["verdict"] == want


def test_two_units_against_scipy_and_statsmodels(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    """Unit 1's attitude is truly higher (by 1.5 scale points); the rest is the same."""
    syn = _campaign(app, "dfu", [60, 60, 40], {0: 1.5})
    h = headers_for(client, session, "evaluator")
    a, b = syn.unit_codes[0], syn.unit_codes[1]
    body = _get(client, h, syn, a=a, b=b)
    scores = _scores(app, syn)
    rows = {r["dimension"]: r for r in body["rows"]}
    assert set(rows) == {*DIMENSIONS, "index"}
    for d in DIMENSIONS:
        x, y = scores[(a, d)], scores[(b, d)]
        ref = _welch(x, y)
        r = rows[d]
        se = np.hypot(np.std(x, ddof=1) / np.sqrt(len(x)), np.std(y, ddof=1) / np.sqrt(len(y)))
        assert r["difference"] == pytest.approx(np.mean(x) - np.mean(y), abs=1e-5)
        assert r["se"] == pytest.approx(se, abs=1e-5)
        assert r["t"] == pytest.approx(ref.statistic, abs=1e-5)
        assert r["p_value"] == pytest.approx(ref.pvalue, abs=1e-7)
        crit = sps.t.ppf(0.975, r["df"])
        assert r["ci_low"] == pytest.approx(r["difference"] - crit * se, abs=1e-4)
        assert r["ci_high"] == pytest.approx(r["difference"] + crit * se, abs=1e-4)
    _check_holm(body["rows"])
    assert rows["attitude"]["verdict"] == "higher"
    assert all(rows[d]["verdict"] == "no clear difference" for d in DIMENSIONS[1:])
    # The composite is the ranking's raw index, published: its difference is theirs.
    ranking = client.get(f"/api/v1/campaigns/{syn.campaign_id}/ranking", headers=h).json()
    raw = {r["unit_code"]: r["raw_index"] for r in ranking["rows"]}
    assert rows["index"]["difference"] == pytest.approx(raw[a] - raw[b], abs=1e-4)
    assert rows["index"]["se"] == pytest.approx(
        np.mean([rows[d]["se"] for d in DIMENSIONS]), abs=1e-5
    )
    # Reversed, every verdict flips.
    back = {r["dimension"]: r for r in _get(client, h, syn, a=b, b=a)["rows"]}
    assert back["attitude"]["verdict"] == "lower"
    assert back["attitude"]["difference"] == pytest.approx(-rows["attitude"]["difference"])
    # No true difference between units 2 and 3: no verdict.
    none = _get(client, h, syn, a=syn.unit_codes[1], b=syn.unit_codes[2])["rows"]
    assert all(r["verdict"] == "no clear difference" for r in none)


def test_unit_against_district_is_unit_against_the_rest(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    syn = _campaign(app, "dfd", [50, 40, 30, 20], {0: 1.5})
    h = headers_for(client, session, "evaluator")
    a = syn.unit_codes[0]
    body = _get(client, h, syn, a=a, b="district")
    scores = _scores(app, syn)
    district = client.get(
        f"/api/v1/campaigns/{syn.campaign_id}/indicators", params={"by": "dimension"}, headers=h
    ).json()
    whole = {r["dimension"]: r["score"] for r in district["rows"]}
    rows = {r["dimension"]: r for r in body["rows"]}
    for d in DIMENSIONS:
        x = scores[(a, d)]
        rest = [v for u in syn.unit_codes[1:] for v in scores[(u, d)]]
        share = len(x) / (len(x) + len(rest))
        ref = _welch(x, rest)
        r = rows[d]
        gap = np.mean(x) - np.mean(rest)
        se = np.hypot(
            np.std(x, ddof=1) / np.sqrt(len(x)), np.std(rest, ddof=1) / np.sqrt(len(rest))
        )
        assert r["unit_share"] == pytest.approx(share, abs=1e-6)
        assert r["difference"] == pytest.approx((1 - share) * gap, abs=1e-5)
        # The same number as the unit's score minus the district's published score.
        assert r["difference"] == pytest.approx(r["score_a"] - whole[d], abs=1e-4)
        assert r["se"] == pytest.approx((1 - share) * se, abs=1e-5)
        assert r["p_value"] == pytest.approx(ref.pvalue, abs=1e-7)
        assert r["df"] == pytest.approx(sps.ttest_ind(x, rest, equal_var=False).df, abs=1e-3)
    _check_holm(body["rows"])
    assert rows["attitude"]["verdict"] == "higher"
    assert rows["index"]["verdict"] in ("higher", "no clear difference")


def test_suppressed_groups_publish_no_numbers(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    """A unit of 3 respondents is not published, and neither is any difference with it; a
    district that is one unit has no rest to compare with."""
    syn = _campaign(app, "dfs", [30, 3], {})
    h = headers_for(client, session, "evaluator")
    small = _get(client, h, syn, a=syn.unit_codes[0], b=syn.unit_codes[1])["rows"]
    assert small and all(r["suppressed"] and r.get("difference") is None for r in small)
    alone = make_campaign(app.state.engine, units=2, areas=1, prefix="dfo")
    add_answers(
        app.state.engine,
        alone,
        [
            {"unit": 0, "answers": {f"q_{d}": float(1 + i % 5) for d in DIMENSIONS}}
            for i in range(20)
        ],
    )
    rows = _get(client, h, alone, a=alone.unit_codes[0], b="district")["rows"]
    assert rows and all(r["suppressed"] and r.get("se") is None for r in rows)


def test_access_and_bad_queries(app: FastAPI, client: TestClient, session: Session) -> None:
    syn = _campaign(app, "dfa", [10, 10], {})
    url = f"/api/v1/campaigns/{syn.campaign_id}/difference"
    params = {"a": syn.unit_codes[0], "b": syn.unit_codes[1]}
    assert client.get(url, params=params).status_code == 401
    deputy = headers_for(client, session, "deputy")
    assert client.get(url, params=params, headers=deputy).status_code == 403
    h = headers_for(client, session, "evaluator")
    missing = client.get("/api/v1/campaigns/999999/difference", params=params, headers=h)
    assert missing.status_code == 404
    for bad, field in (
        ({"a": "nope", "b": syn.unit_codes[1]}, "a"),
        ({"a": syn.unit_codes[0], "b": "nope"}, "b"),
        ({"a": syn.unit_codes[0], "b": syn.unit_codes[0]}, "b"),
        ({"b": syn.unit_codes[0]}, "a"),
    ):
        r = client.get(url, params=bad, headers=h)
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["loc"] == ["query", field]
    weighted = client.get(url, params={**params, "weighted": True}, headers=h)
    assert weighted.status_code == 200


def test_holm_matches_statsmodels() -> None:
    rng = np.random.default_rng(5)
    for m in (1, 2, 5, 9):
        p = rng.uniform(0, 0.1, m)
        assert holm(p).tolist() == pytest.approx(multipletests(p, method="holm")[1].tolist())


def test_figure_on_literal_rows() -> None:
    rows = [
        {
            "dimension": "attitude",
            "a": "U1",
            "b": "district",
            "difference": 8.0,
            "ci_low": 3.0,
            "ci_high": 13.0,
            "verdict": "higher",
            "suppressed": False,
        },
        {
            "dimension": "results",
            "a": "U1",
            "b": "district",
            "difference": -1.0,
            "ci_low": -6.0,
            "ci_high": 4.0,
            "verdict": "no clear difference",
            "suppressed": False,
        },
        {"dimension": "integrity", "a": "U1", "b": "district", "suppressed": True},
    ]
    fig = difference_figure(rows, lang="en")
    points = fig.data[0]
    assert list(points.x) == [8.0, -1.0]
    assert list(points.error_x.array) == [5.0, 5.0]
    assert list(points.error_x.arrayminus) == [5.0, 5.0]
    assert points.marker.color[1] != points.marker.color[0]
    text = fig.to_json()
    assert "overlap" in text and "integrity" in text
    zh = difference_figure(rows, lang="zh-CN").to_json()
    assert "overlap" not in zh


def test_dashboard_table_figure_and_report(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    """The dashboard compares the chosen unit with the district: its table is the API's rows,
    its figure plots them, and the report carries the section and its table."""
    syn = _campaign(app, "dfb", [40, 30, 30], {0: 1.5})
    h = headers_for(client, session, "evaluator")
    unit = syn.unit_codes[0]
    api = _get(client, h, syn, a=unit, b="district")["rows"]
    params: dict[str, Any] = {"campaign_id": syn.campaign_id, "unit_code": unit, "format": "json"}
    table = client.get("/api/v1/tables/difference", params=params, headers=h)
    assert table.status_code == 200, table.text
    body = table.json()
    rows = body["rows"] if isinstance(body, dict) else body
    assert [(r["dimension"], r["difference"]) for r in rows] == [
        (r["dimension"], r["difference"]) for r in api
    ]
    fig = client.get(
        "/api/v1/figures/difference",
        params={"campaign_id": syn.campaign_id, "unit_code": unit, "lang": "en"},
        headers=h,
    )
    assert fig.status_code == 200
    shown = [r["difference"] for r in api if not r["suppressed"]]
    assert fig.json()["data"][0]["x"] == pytest.approx([round(x, 1) for x in shown])
    report = client.get(
        f"/api/v1/reports/{syn.campaign_id}", params={"unit_code": unit, "lang": "en"}, headers=h
    )
    assert report.status_code == 200
    assert "Holm-adjusted p" in report.text and "No clear difference" in report.text
