"""Composite ranks under alternative weights and normalisations, recomputed with numpy/scipy
from the published per-unit dimension scores; withheld units; access and 422s."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from scipy import stats
from sqlmodel import Session

from analytics import figures
from analytics.indicators.sensitivity import competition_ranks
from tests.factories import headers_for
from tests.synthetic import Synthetic

WEIGHTS = {"attitude": 1.0, "efficiency": 1.0, "integrity": 0.5, "results": 2.0}
DIMS = sorted(WEIGHTS)


def ranks_of(values: np.ndarray) -> np.ndarray:
    """Competition ranks (1 the highest, ties share the lowest rank) via scipy."""
    return stats.rankdata(-np.round(values, 6), method="min").astype(int)


def expected(scores: np.ndarray) -> dict[str, np.ndarray]:
    """Every scenario's ranks, written out independently of the product's code."""
    w = np.array([WEIGHTS[d] for d in DIMS])

    def comp(x: np.ndarray, wv: np.ndarray) -> np.ndarray:
        return ranks_of((x * wv).sum(axis=1) / wv.sum())

    out = {"base": comp(scores, w), "equal_weights": comp(scores, np.ones(len(DIMS)))}
    for j, d in enumerate(DIMS):
        out[f"drop_{d}"] = comp(np.delete(scores, j, axis=1), np.delete(w, j))
    out["zscore"] = comp(stats.zscore(scores, axis=0, ddof=1), w)
    lo, hi = scores.min(axis=0), scores.max(axis=0)
    out["minmax"] = comp((scores - lo) / (hi - lo), w)
    out["borda"] = comp(np.apply_along_axis(stats.rankdata, 0, scores), w)
    return out


def _get(client: TestClient, h: dict[str, str], syn: Synthetic, **params: Any) -> Any:
    r = client.get(f"/api/v1/campaigns/{syn.campaign_id}/sensitivity", params=params, headers=h)
    assert r.status_code == 200, r.text
    return r.json()


def test_ranks_recomputed_from_published_scores(
    client: TestClient, session: Session, synthetic: Callable[..., Synthetic]
) -> None:
    syn = synthetic(n=700, units=7, seed=3, unit_sizes=[1, 1, 1, 1, 1, 1, 0.004])
    h = headers_for(client, session, "evaluator")
    weights = ",".join(f"{d}:{w}" for d, w in WEIGHTS.items())
    body = _get(client, h, syn, weights=weights)
    cells = client.get(
        f"/api/v1/campaigns/{syn.campaign_id}/indicators",
        params={"by": "unit,dimension"},
        headers=h,
    ).json()["rows"]
    per_unit: dict[str, dict[str, Any]] = {}
    for c in cells:
        if c["dimension"] in WEIGHTS:
            per_unit.setdefault(c["unit_code"], {})[c["dimension"]] = (
                None if c["suppressed"] else c["score"]
            )
    ok = sorted(u for u, s in per_unit.items() if all(s.get(d) is not None for d in DIMS))
    assert 3 <= len(ok) < len(per_unit)  # the tiny unit is withheld
    scores = np.array([[per_unit[u][d] for d in DIMS] for u in ok], dtype=float)
    want = expected(scores)
    rows = {r["unit_code"]: r for r in body["rows"]}
    for u in set(per_unit) - set(ok):
        assert rows[u]["suppressed"] and "ranks" not in rows[u]
    alt = [s for s in want if s != "base"]
    for i, u in enumerate(ok):
        r = rows[u]
        assert r["base_rank"] == want["base"][i]
        assert r["ranks"] == {s: int(want[s][i]) for s in want}
        shifts = np.array([abs(int(want[s][i]) - int(want["base"][i])) for s in alt])
        assert r["median_shift"] == pytest.approx(float(np.median(shifts)))
        assert r["max_shift"] == int(shifts.max())
        base = float((scores[i] * np.array([WEIGHTS[d] for d in DIMS])).sum()) / sum(
            WEIGHTS.values()
        )
        assert r["base_index"] == pytest.approx(base, abs=1e-5)
    summary = {s["scenario"]: s["mean_abs_shift"] for s in body["scenarios"]}
    assert set(summary) == set(alt)
    for s in alt:
        assert summary[s] == pytest.approx(float(np.abs(want[s] - want["base"]).mean()), abs=1e-4)
    assert [r["base_rank"] for r in body["rows"] if not r["suppressed"]] == sorted(
        int(x) for x in want["base"]
    )


def test_campaign_weights_are_the_base(
    client: TestClient, session: Session, synthetic: Callable[..., Synthetic]
) -> None:
    syn = synthetic(n=300, units=4, seed=5, dimension_weights={"results": 3.0})
    h = headers_for(client, session, "evaluator")
    body = _get(client, h, syn)
    assert body["method"]["dimension_weights"] == {
        d: (3.0 if d == "results" else 1.0) for d in DIMS
    }
    # A weight of 0 takes the dimension out of the composite and of the scenarios.
    body = _get(client, h, syn, weights="integrity:0")
    assert "drop_integrity" not in body["rows"][0]["ranks"]
    assert "drop_results" in body["rows"][0]["ranks"]


def test_competition_ranks_share_ties() -> None:
    assert competition_ranks(np.array([50.0, 70.0, 50.0, 10.0])).tolist() == [2, 1, 2, 4]
    assert ranks_of(np.array([50.0, 70.0, 50.0, 10.0])).tolist() == [2, 1, 2, 4]


def test_access_and_bad_parameters(
    client: TestClient, session: Session, synthetic: Callable[..., Synthetic]
) -> None:
    syn = synthetic(n=60, units=2)
    url = f"/api/v1/campaigns/{syn.campaign_id}/sensitivity"
    assert client.get(url).status_code == 401
    assert client.get(url, headers=headers_for(client, session, "deputy")).status_code == 403
    h = headers_for(client, session, "evaluator")
    for params in (
        {"weights": "nope:1"},
        {"weights": "results:-1"},
        {"weights": "results"},
        {"month": "2026-1"},
        {"area_code": "nowhere"},
    ):
        assert client.get(url, params=params, headers=h).status_code == 422, params
    assert client.get("/api/v1/campaigns/999999/sensitivity", headers=h).status_code == 404


FIGURE_ROWS: list[dict[str, Any]] = [
    {
        "unit_code": "u2",
        "base_rank": 2,
        "median_shift": 1,
        "max_shift": 2,
        "suppressed": False,
        "ranks": {
            "base": 2,
            "equal_weights": 1,
            "drop_a": 3,
            "drop_b": 2,
            "zscore": 4,
            "minmax": 2,
            "borda": 2,
        },
    },
    {
        "unit_code": "u1",
        "base_rank": 1,
        "median_shift": 0,
        "max_shift": 1,
        "suppressed": False,
        "ranks": {
            "base": 1,
            "equal_weights": 2,
            "drop_a": 1,
            "drop_b": 1,
            "zscore": 1,
            "minmax": 1,
            "borda": 1,
        },
    },
    {"unit_code": "u3", "unit_name": "<b>hidden</b>", "suppressed": True},
]


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_sensitivity_figure_on_literal_rows(lang: str) -> None:
    fig = figures.sensitivity(FIGURE_ROWS, lang=lang, names={"u1": "一号", "u2": "二号"})
    by_name = {t.name: t for t in fig.data if t.name}
    base = by_name[figures.label(lang, "sens_base")]
    assert list(base.y) == ["一号", "二号"] and list(base.x) == [1, 2]
    assert base.marker.size > by_name[figures.label(lang, "sens_equal")].marker.size
    drop = by_name[figures.label(lang, "sens_drop")]
    assert sorted(zip(drop.y, drop.x, strict=True)) == [
        ("一号", 1),
        ("一号", 1),
        ("二号", 2),
        ("二号", 3),
    ]
    line = fig.data[0]
    assert list(line.x) == [1, 2, None, 1, 4, None]  # best to worst rank of each unit
    hidden = next(t for t in fig.data if t.mode == "text")
    assert list(hidden.y) == ["&lt;b&gt;hidden&lt;/b&gt;"]
    assert not figures.sensitivity([], lang=lang).data


def test_dashboard_table_and_figure_are_the_api_rows(
    client: TestClient, session: Session, synthetic: Callable[..., Synthetic]
) -> None:
    syn = synthetic(n=300, units=4, seed=11)
    h = headers_for(client, session, "evaluator")
    api = _get(client, h, syn)
    r = client.get(
        "/api/v1/tables/sensitivity",
        params={"campaign_id": syn.campaign_id, "format": "json"},
        headers=h,
    )
    assert r.status_code == 200, r.text
    assert r.json()["rows"] == api["rows"]
    body = client.get(
        "/api/v1/dashboard",
        params={"campaign_id": syn.campaign_id, "names": "sensitivity"},
        headers=h,
    ).json()
    traces = body["figures"]["sensitivity"]["data"]
    base = next(t for t in traces if t.get("name") == figures.label("zh-CN", "sens_base"))
    assert base["x"] == [x["base_rank"] for x in api["rows"] if not x["suppressed"]]
