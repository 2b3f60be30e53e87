"""One number, one function: the dashboard's ranking and trend rows are the API's rows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, update

from surveys.units.models import Unit
from tests.factories import headers_for
from tests.synthetic import Synthetic

API = "/api/v1/campaigns/{}/{}"


@pytest.fixture
def syn(synthetic: Callable[..., Synthetic], session: Session) -> Synthetic:
    built = synthetic(n=900, units=8, areas=3, seed=11, comment_share=0.0)
    # Two kinds of unit, so that ranking within a kind ranks fewer units.
    session.execute(
        update(Unit).where(col(Unit.code).in_(built.unit_codes[:3])).values(kind="service_window")
    )
    session.commit()
    return built


def table(client: TestClient, h: dict[str, str], name: str, **params: Any) -> list[Any]:
    r = client.get(f"/api/v1/tables/{name}", params={**params, "format": "json"}, headers=h)
    assert r.status_code == 200, r.text
    return r.json()["rows"]  # type: ignore[no-any-return]


def api(client: TestClient, h: dict[str, str], cid: int, name: str, **params: Any) -> Any:
    r = client.get(API.format(cid, name), params=params, headers=h)
    assert r.status_code == 200, r.text
    return r.json()


def months(client: TestClient, h: dict[str, str], cid: int) -> list[str]:
    rows = api(client, h, cid, "indicators", by="dimension", period="month")["rows"]
    return sorted({r["period"] for r in rows})


def test_dashboard_ranking_rows_are_the_ranking_api_rows(
    client: TestClient, session: Session, syn: Synthetic
) -> None:
    h = headers_for(client, session, "evaluator")
    cid = syn.campaign_id
    month = months(client, h, cid)[1]
    views = [
        ({}, {}),
        ({"area": syn.area_codes[0]}, {"area_code": syn.area_codes[0]}),
        ({"month": month}, {"month": month}),
        ({"unit_kind": "department"}, {"unit_kind": "department"}),
        (
            {"area": syn.area_codes[1], "month": month, "weighted": "true"},
            {"area_code": syn.area_codes[1], "month": month, "weighted": "true"},
        ),
    ]
    for dash_params, api_params in views:
        dash = table(client, h, "ranking", campaign_id=cid, **dash_params)
        rows = api(client, h, cid, "ranking", **api_params)["rows"]

        # A suppressed row's empty columns may be left out on either side.
        def filled(rs: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [{k: v for k, v in r.items() if v is not None} for r in rs]

        assert filled(dash) == filled(rows), dash_params
        shown = [r for r in rows if not r["suppressed"]]
        assert shown, dash_params
        # The documented rule: overlapping intervals never get disjoint rank ranges.
        for a in shown:
            for b in shown:
                if a["ci_low"] <= b["ci_high"] and b["ci_low"] <= a["ci_high"]:
                    assert a["rank_low"] <= b["rank_high"] and b["rank_low"] <= a["rank_high"]
    by_kind = table(client, h, "ranking", campaign_id=cid, unit_kind="department")
    assert {r["unit_code"] for r in by_kind} == set(syn.unit_codes[3:])
    assert sorted(r["rank"] for r in by_kind if not r["suppressed"]) == list(
        range(1, 1 + sum(not r["suppressed"] for r in by_kind))
    )
    assert table(client, h, "ranking", campaign_id=cid, month="2031-01") == []


def test_dashboard_trend_rows_are_the_trends_api_rows(
    client: TestClient, session: Session, syn: Synthetic
) -> None:
    h = headers_for(client, session, "evaluator")
    cid = syn.campaign_id
    month = months(client, h, cid)[1]
    unit = syn.unit_codes[4]
    views = [
        ({}, {}),
        ({"unit_code": unit}, {"unit_code": unit}),
        ({"period": "week", "month": month}, {"period": "week", "month": month}),
        (
            {"unit_code": unit, "area": syn.area_codes[2]},
            {"unit_code": unit, "area_code": syn.area_codes[2]},
        ),
    ]
    alerts = 0
    for dash_params, api_params in views:
        dash = table(client, h, "trends", campaign_id=cid, **dash_params)
        res = api(client, h, cid, "trends", by="dimension", **api_params)
        # The API's row schema lists absent grouping fields as null.
        plain = [
            {k: v for k, v in r.items() if k not in ("significant", "change") and v is not None}
            for r in dash
        ]
        assert plain == [{k: v for k, v in r.items() if v is not None} for r in res["rows"]]
        tested = {(c["dimension"], c["to"]): c for c in res["changes"] if not c["suppressed"]}
        for r in dash:
            c = tested.get((r["dimension"], r["period"]))
            assert r.get("significant") == (c["alert"] if c else None), (dash_params, r)
            assert r.get("change") == (c["change"] if c else None)
            alerts += bool(c and c["alert"])
    assert tested, "some changes are tested"
