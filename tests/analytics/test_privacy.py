"""Primary and secondary suppression, in the function and on every analytics endpoint."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import insert
from sqlmodel import Session

from analytics import indicators
from analytics.comments import search
from analytics.indicators.disclosure import blocks, complete
from surveys.forms.models import CampaignUnit
from surveys.units.models import Unit
from tests.factories import headers_for
from tests.synthetic import Synthetic, add_responses


def _levels(rng: np.random.Generator, n: int, sizes: tuple[int, ...]) -> list[np.ndarray]:
    return [rng.integers(0, s, n) for s in sizes]


def test_every_block_holds_k_and_every_big_node_is_whole_blocks() -> None:
    rng = np.random.default_rng(7)
    for trial in range(200):
        n = int(rng.integers(0, 120))
        levels = _levels(rng, n, (4, 3, 3, 2, 4))
        k = int(rng.integers(2, 8))
        block = blocks(levels, k)
        assert (block >= 0).all()
        sizes = np.bincount(block) if n else np.zeros(0, int)
        if n >= k:
            assert sizes[sizes > 0].min() >= k, trial
        # A node of the hierarchy with k or more respondents is whole blocks unless the pool
        # left by small nodes joined one of its blocks: one pool per ancestor at most, so
        # under any parent at most (its depth + 1) big children are not whole.
        for depth in range(1, len(levels) + 1):
            key = np.stack(levels[:depth], axis=1) if n else np.zeros((0, depth), int)
            nodes, node = np.unique(key, axis=0, return_inverse=True)
            node = node.reshape(-1)
            broken: dict[tuple[int, ...], int] = defaultdict(int)
            for j in range(len(nodes)):
                members = node == j
                if members.sum() >= k and not complete(np.where(members, 0, 1), block, 1)[0]:
                    broken[tuple(nodes[j][:-1].tolist())] += 1
            assert all(v <= depth for v in broken.values()), (trial, depth, broken)


def test_blocks_do_not_depend_on_arrival_order() -> None:
    rng = np.random.default_rng(8)
    levels = _levels(rng, 300, (5, 4, 6, 2, 5))
    block = blocks(levels, 5)
    perm = rng.permutation(300)
    again = blocks([lv[perm] for lv in levels], 5)
    # The same partition of the respondents (numbering may differ).
    pairs = set(zip(block[perm].tolist(), again.tolist(), strict=True))
    assert len(pairs) == len(set(block.tolist())) == len(set(again.tolist()))


def test_a_group_is_published_only_when_it_is_whole_blocks() -> None:
    block = np.array([0, 0, 0, 1, 1, 1])
    assert complete(np.array([0, 0, 0, 1, 1, 1]), block, 2).tolist() == [True, True]
    # A filter that leaves one member of block 1 out makes its group partial.
    assert complete(np.array([0, 0, 0, 1, 1, 2]), block, 2).tolist() == [True, False]
    assert complete(np.array([0, 0, 1, 1, 1, 1]), block, 2).tolist() == [False, False]


def _small_unit(app: FastAPI, syn: Synthetic, n: int) -> str:
    with app.state.engine.begin() as conn:
        uid = conn.execute(
            insert(Unit).values(code="small-unit", name="小单位", kind="department")
        ).inserted_primary_key[0]
        conn.execute(insert(CampaignUnit).values(campaign_id=syn.campaign_id, unit_id=uid))
    syn.unit_ids.append(int(uid))
    syn.unit_codes.append("small-unit")
    sizes = [0.0] * (len(syn.unit_ids) - 1) + [1.0]
    add_responses(
        app.state.engine,
        syn,
        n=n,
        seed=77,
        unit_sizes=sizes,
        flagged_share=0.0,
        comment_share=1.0,
    )
    return "small-unit"


def _assert_lines_safe(
    rows: list[dict[str, Any]], keys: list[str], k: int, n_of: dict[Any, int]
) -> None:
    for pos in range(len(keys)):
        lines: dict[Any, list[Any]] = defaultdict(list)
        for r in rows:
            key = tuple(r[f] for f in keys)
            lines[key[:pos] + key[pos + 1 :]].append(r)
        for members in lines.values():
            hidden = [r for r in members if r["suppressed"]]
            # Either the whole line is hidden (its total is the only figure, and it is held
            # to the same threshold wherever it is published), or the hidden cells are at
            # least two and hold k respondents together.
            if hidden and len(hidden) < len(members):
                assert len(hidden) >= 2
                assert sum(n_of[tuple(r[f] for f in keys)] for r in hidden) >= k


def test_every_endpoint_hides_small_groups(
    app: FastAPI, client: TestClient, session: Session, synthetic: Callable[..., Synthetic]
) -> None:
    syn = synthetic(n=500, units=5, areas=2, seed=8, comment_share=0.5)
    small = _small_unit(app, syn, 3)
    h = headers_for(client, session, "evaluator")
    cid = syn.campaign_id

    # Indicators: no values for the small unit, secondary cells in every line.
    r = client.get(
        f"/api/v1/campaigns/{cid}/indicators", params={"by": "unit,dimension"}, headers=h
    )
    assert r.status_code == 200
    rows = r.json()["rows"]
    hidden = [x for x in rows if x["suppressed"]]
    assert {x["unit_code"] for x in hidden if x["suppression"] == "primary"} == {small}
    assert any(x["suppression"] == "secondary" for x in hidden)
    for x in hidden:
        assert x["n"] is None and x["mean"] is None and x["score"] is None
        assert x["shrunk_score"] is None and x["satisfaction_rate"] is None
    full = indicators.compute(session, campaign_id=cid, by="unit,dimension", min_group_size=1)
    n_of = {(x["unit_code"], x["dimension"]): x["n"] for x in full.rows}
    _assert_lines_safe(rows, ["unit_code", "dimension"], 5, n_of)

    # Pooled by unit, and split by sex: the same rules.
    for by, keys in (("unit", ["unit_code"]), ("unit,sex", ["unit_code", "sex"])):
        r = client.get(f"/api/v1/campaigns/{cid}/indicators", params={"by": by}, headers=h)
        rows = r.json()["rows"]
        assert any(x["suppressed"] and x["unit_code"] == small for x in rows)
        full = indicators.compute(session, campaign_id=cid, by=by, min_group_size=1)
        n_of = {tuple(x[f] for f in keys): x["n"] for x in full.rows}
        _assert_lines_safe(rows, keys, 5, n_of)

    # Ranking: the small unit and its secondary partner carry no index.
    r = client.get(f"/api/v1/campaigns/{cid}/ranking", headers=h)
    rows = r.json()["rows"]
    hidden = [x for x in rows if x["suppressed"]]
    assert small in {x["unit_code"] for x in hidden} and len(hidden) >= 2
    assert all(x["index"] is None and x["rank"] is None for x in hidden)

    # Trends: small periods carry no values.
    r = client.get(f"/api/v1/campaigns/{cid}/trends", params={"period": "month"}, headers=h)
    body = r.json()
    assert all(x["score"] is None for x in body["rows"] if x["unit_code"] == small)
    assert all(c["suppressed"] for c in body["changes"] if c["unit_code"] == small)

    # Comments: none from the small unit, even when asked for by name or by search.
    r = client.get(f"/api/v1/campaigns/{cid}/comments", params={"unit_code": small}, headers=h)
    assert r.status_code == 200 and r.json()["suppressed"] is True and r.json()["rows"] == []
    r = client.get(f"/api/v1/campaigns/{cid}/comments", params={"limit": 200}, headers=h)
    assert r.json()["total"] > 0
    assert all(x["unit_code"] != small for x in r.json()["rows"])
    r = client.get(f"/api/v1/campaigns/{cid}/comments/themes", headers=h)
    assert small not in {g["unit_code"] for g in r.json()["groups"]}


def test_threshold_follows_the_setting(make_app: Callable[..., FastAPI]) -> None:
    app = make_app(min_group_size=1000)
    from tests.synthetic import make_campaign

    syn = make_campaign(app.state.engine, units=3, areas=2, prefix="k")
    add_responses(app.state.engine, syn, n=300, seed=2)
    with TestClient(app) as client, Session(app.state.engine) as s:
        h = headers_for(client, s, "admin")
        r = client.get(f"/api/v1/campaigns/{syn.campaign_id}/indicators", headers=h)
        assert all(x["suppressed"] and x["n"] is None for x in r.json()["rows"])
        assert r.json()["method"]["min_group_size"] == 1000
        page = search.list_comments(s, campaign_id=syn.campaign_id, min_group_size=1000)
        assert page.rows == [] and page.total == 0
