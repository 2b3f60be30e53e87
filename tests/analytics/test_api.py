"""Each analytics route: happy path, 401, 403, 404 and 422."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.dependencies.utils import get_flat_params
from fastapi.testclient import TestClient
from sqlmodel import Session

from service.auth import FLAGGED_SWITCH as FLAGGED
from tests.factories import headers_for
from tests.hardening.routes import iter_routes
from tests.synthetic import Synthetic

GETS = ["indicators", "ranking", "trends", "comments", "comments/themes"]


@pytest.fixture
def syn(synthetic: Callable[..., Synthetic]) -> Synthetic:
    return synthetic(n=400, units=4, areas=2, seed=3, comment_share=0.1)


@pytest.mark.parametrize("path", GETS)
def test_get_routes_need_an_evaluator(
    client: TestClient, session: Session, syn: Synthetic, path: str
) -> None:
    url = f"/api/v1/campaigns/{syn.campaign_id}/{path}"
    assert client.get(url).status_code == 401
    deputy = headers_for(client, session, "deputy")
    assert client.get(url, headers=deputy).status_code == 403
    ev = headers_for(client, session, "evaluator")
    assert client.get(url, headers=ev).status_code == 200
    assert client.get(f"/api/v1/campaigns/999999/{path}", headers=ev).status_code == 404


def _flagged_switch_routes(app: FastAPI) -> list[str]:
    """Every API GET route that takes the ``include_flagged`` switch."""
    out = []
    for route in iter_routes(app.routes):
        names = {p.name for p in get_flat_params(route.dependant)}
        if "GET" in route.methods and route.path.startswith("/api/") and FLAGGED in names:
            out.append(route.path)
    return sorted(out)


def test_flagged_switch_is_the_admins_alone(
    client: TestClient, session: Session, syn: Synthetic
) -> None:
    """With and without the flagged responses differ by those few people: an evaluator who
    asks for both is refused, everywhere, with a message naming the parameter."""
    paths = _flagged_switch_routes(client.app)  # type: ignore[arg-type]
    assert len(paths) >= 8, paths
    ev = headers_for(client, session, "evaluator")
    admin = headers_for(client, session, "admin", "adm")
    # "a": the unit the difference route compares (the other routes ignore it).
    params: dict[str, str | int] = {
        "campaign_id": syn.campaign_id,
        "name": "ranking",
        "format": "json",
        "a": syn.unit_codes[0],
    }
    for template in paths:
        url = template.replace("{campaign_id}", str(syn.campaign_id))
        url = url.replace("{name}", "ranking")
        on = {**params, FLAGGED: "true"}
        assert client.get(url, params=on).status_code == 401, url
        r = client.get(url, params=on, headers=ev)
        assert r.status_code == 403 and FLAGGED in r.json()["detail"], (url, r.text[:200])
        off = client.get(url, params={**params, FLAGGED: "false"}, headers=ev)
        assert off.status_code == 200, (url, off.text[:200])
        assert client.get(url, params=on, headers=admin).status_code == 200, url


def test_indicators_contract(client: TestClient, session: Session, syn: Synthetic) -> None:
    h = headers_for(client, session, "evaluator")
    r = client.get(
        f"/api/v1/campaigns/{syn.campaign_id}/indicators",
        params={"by": "unit,dimension", "period": "month", "weighted": "true"},
        headers=h,
    )
    assert r.status_code == 200
    body = r.json()
    row = next(x for x in body["rows"] if not x["suppressed"])
    for key in (
        "unit_code",
        "dimension",
        "period",
        "n",
        "mean",
        "ci_low",
        "ci_high",
        "score",
        "shrunk_score",
        "satisfaction_rate",
        "suppressed",
    ):
        assert key in row
    assert body["method"]["weighted"] is True
    assert body["method"]["weighting"]["n_eff"] > 0
    assert "not a margin of error" in body["method"]["note"]


def test_ranking_contract(client: TestClient, session: Session, syn: Synthetic) -> None:
    h = headers_for(client, session, "admin")
    r = client.get(
        f"/api/v1/campaigns/{syn.campaign_id}/ranking", params={"weights": "results:2"}, headers=h
    )
    assert r.status_code == 200
    rows = r.json()["rows"]
    assert [x["rank"] for x in rows] == [1, 2, 3, 4]
    for x in rows:
        assert x["rank_low"] <= x["rank"] <= x["rank_high"]
        assert x["ci_low"] < x["index"] < x["ci_high"]
    assert r.json()["method"]["dimension_weights"]["results"] == 2


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("indicators", {"by": "unit,colour"}),
        ("indicators", {"period": "year"}),
        ("indicators", {"weighted": "maybe"}),
        ("indicators", {"unit_code": "no-such-unit"}),
        ("ranking", {"weights": "results"}),
        ("ranking", {"weights": "nope:2"}),
        ("trends", {"period": "year"}),
        ("indicators", {"month": "2026-13"}),
        ("trends", {"month": "2026-3"}),
        ("ranking", {"area_code": "no-such-area"}),
        ("ranking", {"month": "2026-00"}),
        ("ranking", {"unit_kind": "planet"}),
        ("trends", {"by": "dimension,colour"}),
        ("trends", {"unit_code": "no-such-unit"}),
        ("comments", {"sentiment": "angry"}),
        ("comments", {"limit": 0}),
        ("comments/themes", {"by": "colour"}),
    ],
)
def test_bad_queries_are_422(
    client: TestClient, session: Session, syn: Synthetic, path: str, params: dict[str, object]
) -> None:
    h = headers_for(client, session, "evaluator")
    r = client.get(f"/api/v1/campaigns/{syn.campaign_id}/{path}", params=params, headers=h)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"]


def test_sentiment_route(client: TestClient, session: Session) -> None:
    url = "/api/v1/analytics/sentiment"
    body = {"texts": ["工作人员态度很好，办事效率高", "排队两个小时没人管，太差了"]}
    assert client.post(url, json=body).status_code == 401
    deputy = headers_for(client, session, "deputy")
    assert client.post(url, json=body, headers=deputy).status_code == 403
    h = headers_for(client, session, "evaluator")
    r = client.post(url, json=body, headers=h)
    assert r.status_code == 200
    res = r.json()["results"]
    assert [x["label"] for x in res] == ["positive", "negative"]
    assert res[0]["score"] > 0.5 > res[1]["score"]
    assert client.post(url, json={"texts": ["x"] * 101}, headers=h).status_code == 422
    assert client.post(url, json={"texts": ["长" * 2001]}, headers=h).status_code == 422
    assert client.post(url, json={"text": "x"}, headers=h).status_code == 422
