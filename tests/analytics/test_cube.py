"""The columnar copy gives the same counts as SQL over the raw responses, and stays current."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from sqlmodel import Session

from analytics import indicators
from analytics.indicators import cube, queries
from analytics.indicators.params import resolve_filters
from analytics.indicators.weighting import cell_weights
from tests.synthetic import Synthetic, add_responses

VIEWS: list[dict[str, Any]] = [
    {"by": "unit,dimension", "period": "month"},
    {"by": "dimension", "period": "week"},
    {"by": "unit", "period": "day"},
    {"by": "area,dimension"},
    {"by": "age_band,sex"},
    {"by": "unit,sex,dimension"},
    {"by": "area,dimension", "period": "month"},
    {"by": "unit,dimension", "weighted": True},
    {"by": "dimension", "weighted": True, "period": "month"},
    {"by": "unit,dimension", "include_flagged": True, "age_band": "60+"},
    {"by": "dimension", "unit_code": "s1-unit-002", "sex": "female"},
]


@pytest.fixture(autouse=True)
def _fresh_columns() -> Iterator[None]:
    cube.forget()
    yield
    cube.forget()


def test_columns_equal_sql_on_raw_responses(
    session: Session, synthetic: Callable[..., Synthetic]
) -> None:
    syn = synthetic(n=1200, units=4, areas=3, seed=13)
    campaign = indicators.get_campaign(session, syn.campaign_id)
    for view in VIEWS:
        by = indicators.parse_by(view["by"])
        fields = [f for f in by if f != "dimension"] + (["period"] if view.get("period") else [])
        filters = resolve_filters(
            session,
            unit_code=view.get("unit_code"),
            area_code=None,
            age_band=view.get("age_band"),
            sex=view.get("sex"),
        )
        weights = None
        if view.get("weighted"):
            weights, _ = cell_weights(session, campaign, False, 5)
        kw: dict[str, Any] = {
            "campaign_id": syn.campaign_id,
            "fields": fields,
            "period": view.get("period"),
            "include_flagged": bool(view.get("include_flagged")),
            "filters": filters,
            "weights": weights,
        }
        cols = cube.counts(session, **kw)
        raw = queries.fetch_counts(session, source="raw", **kw)

        def table(
            c: queries.Counts, fields: list[str] = fields
        ) -> dict[tuple[Any, ...], tuple[int, float, float]]:
            out = {}
            for i in range(len(c)):
                key = tuple(c.keys[f][i] for f in fields) + (c.question[i], float(c.value[i]))
                out[key] = (int(c.n[i]), float(c.wn[i]), float(c.w2n[i]))
            return out

        a, b = table(cols), table(raw)
        assert a.keys() == b.keys(), view
        for key, (n, wn, w2n) in a.items():
            assert b[key][0] == n
            assert b[key][1] == pytest.approx(wn, rel=1e-9)
            assert b[key][2] == pytest.approx(w2n, rel=1e-9)
        res = indicators.compute(session, campaign_id=syn.campaign_id, min_group_size=1, **view)
        assert res.method["source"] == "columns"


def test_columns_follow_new_responses_and_a_new_database(
    app: FastAPI,
    session: Session,
    synthetic: Callable[..., Synthetic],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    syn = synthetic(n=300, units=3, areas=2, seed=2)
    first = indicators.compute(session, campaign_id=syn.campaign_id, by="dimension", period="month")
    assert first.method["source"] == "columns"
    add_responses(app.state.engine, syn, n=50, seed=3, flagged_share=0.0)
    session.rollback()  # a new request sees the new snapshot
    after = indicators.compute(session, campaign_id=syn.campaign_id, by="dimension", period="month")
    assert sum(r["n"] for r in after.rows if r["dimension"] == "nps") > sum(
        r["n"] for r in first.rows if r["dimension"] == "nps"
    )
    c = cube.refresh(session, campaign_id=syn.campaign_id)
    assert c.size == 350
