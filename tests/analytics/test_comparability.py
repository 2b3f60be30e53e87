"""Comparability of two campaigns' questionnaires, and their side-by-side comparison."""

# ruff: noqa: F811  (pytest fixtures imported from tests/surveys/forms/fixtures.py)

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from service.models import Role
from surveys.forms.models import Campaign
from tests.factories import headers_for
from tests.surveys.forms.factories import create_campaign, create_survey, response_body, survey_body
from tests.surveys.forms.fixtures import World, admin, world  # noqa: F401
from tests.synthetic import add_answers, another_campaign, make_campaign


def _new_version(client: TestClient, world: World, body: dict[str, Any]) -> int:
    """Answer the world's survey once (which freezes it), then edit it: a new version."""
    r = client.post(f"/api/v1/campaigns/{world.campaign_id}/responses", json=response_body())
    assert r.status_code == 201, r.text
    r = client.put(f"/api/v1/surveys/{world.survey_id}", json=body, headers=world.admin)
    assert r.status_code == 201, r.text  # 201: a new version
    sid = int(r.json()["id"])
    assert sid != world.survey_id
    return sid


def _check(client: TestClient, world: World, other: int) -> dict[str, Any]:
    r = client.get(
        f"/api/v1/campaigns/{world.campaign_id}/comparability",
        params={"with": other},
        headers=world.admin,
    )
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def test_same_survey_is_comparable(client: TestClient, session: Session, world: World) -> None:
    other = create_campaign(client, world.admin, world.survey_id)
    evaluator = headers_for(client, session, Role.evaluator)
    r = client.get(
        f"/api/v1/campaigns/{world.campaign_id}/comparability",
        params={"with": other},
        headers=evaluator,
    )
    assert r.status_code == 200
    out = r.json()
    assert out["comparable"] is True and out["differences"] == [] and out["notes"] == []
    assert out["a"]["survey_id"] == out["b"]["survey_id"] == world.survey_id


def test_new_version_with_same_rated_questions_is_comparable(
    client: TestClient, world: World
) -> None:
    body = survey_body()
    visits = next(q for q in body["questions"] if q["key"] == "visits")
    visits["label"] = "一共跑了几趟"  # not a rated question: no effect on the scores
    sid = _new_version(client, world, body)
    out = _check(client, world, create_campaign(client, world.admin, sid))
    assert out["comparable"] is True and out["differences"] == []
    assert out["notes"] == [{"kind": "version", "field": "version", "a": 1, "b": 2}]


def test_changed_scale_added_question_and_label_are_listed(
    client: TestClient, world: World
) -> None:
    body = survey_body()
    questions = body["questions"]
    attitude = next(q for q in questions if q["key"] == "attitude")
    attitude["scale_max"] = 10
    next(q for q in questions if q["key"] == "results")["label"] = "为民办实事成效"
    added = copy.deepcopy(attitude)
    added.update(key="waiting", dimension="efficiency", label="等候时间", scale_max=5)
    questions.insert(2, added)
    sid = _new_version(client, world, body)
    out = _check(client, world, create_campaign(client, world.admin, sid))
    assert out["comparable"] is False
    assert out["differences"] == [
        {"kind": "question", "key": "attitude", "field": "scale_max", "a": 5, "b": 10},
        {
            "kind": "question",
            "key": "results",
            "field": "label",
            "a": "为民实绩",
            "b": "为民办实事成效",
        },
        {"kind": "missing", "key": "waiting", "field": "question", "a": None, "b": "waiting"},
    ]


def test_other_survey_and_weights(client: TestClient, world: World) -> None:
    sid = create_survey(client, world.admin)  # the same questions, but another questionnaire
    other = create_campaign(client, world.admin, sid, dimension_weights={"results": 2})
    out = _check(client, world, other)
    assert out["comparable"] is False
    assert [d["kind"] for d in out["differences"]] == ["survey"]
    assert out["notes"] == [
        {"kind": "weights", "field": "dimension_weights", "a": None, "b": {"results": 2.0}}
    ]


def test_comparability_errors(client: TestClient, session: Session, world: World) -> None:
    url = f"/api/v1/campaigns/{world.campaign_id}/comparability"
    ok = {"with": world.campaign_id}
    assert client.get(url, params=ok).status_code == 401
    deputy = headers_for(client, session, Role.deputy)
    assert client.get(url, params=ok, headers=deputy).status_code == 403
    assert client.get(url, params={"with": 999}, headers=world.admin).status_code == 404
    r = client.get("/api/v1/campaigns/999/comparison", params=ok, headers=world.admin)
    assert r.status_code == 404
    r = client.get(url, headers=world.admin)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "with"]
    r = client.get(url, params={"with": "x"}, headers=world.admin)
    assert r.status_code == 422


QUESTIONS = {
    "q_a": {"type": "rating", "dimension": "attitude", "min": 1, "max": 5},
    "q_b": {"type": "rating", "dimension": "results", "min": 1, "max": 5},
}


def test_comparison_side_by_side(client: TestClient, session: Session, app: FastAPI) -> None:
    syn = make_campaign(app.state.engine, units=3, areas=1, prefix="cmp", questions=QUESTIONS)
    survey_id = session.get(Campaign, syn.campaign_id).survey_id  # type: ignore[union-attr]
    later = another_campaign(app.state.engine, syn, survey_id)
    rng = np.random.default_rng(7)
    # Unit 0: 12 answers in both; unit 1: 9 in the first, 2 in the second (suppressed there);
    # unit 2: none in the first.
    plan = {syn.campaign_id: {0: 12, 1: 9, 2: 0}, later.campaign_id: {0: 12, 1: 2, 2: 8}}
    raw: dict[tuple[int, str, str], list[int]] = {}
    for target in (syn, later):
        people = []
        for unit, n in plan[target.campaign_id].items():
            for _ in range(n):
                ans = {k: int(rng.integers(1, 6)) for k in QUESTIONS}
                people.append({"unit": unit, "answers": ans})
                for k, v in ans.items():
                    dim = str(QUESTIONS[k]["dimension"])
                    raw.setdefault((target.campaign_id, syn.unit_codes[unit], dim), []).append(v)
        add_answers(app.state.engine, target, people)

    evaluator = headers_for(client, session, Role.evaluator)
    r = client.get(
        f"/api/v1/campaigns/{syn.campaign_id}/comparison",
        params={"with": later.campaign_id},
        headers=evaluator,
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["comparability"]["comparable"] is True
    k = app.state.settings.min_group_size
    rows = {(x["unit_code"], x["dimension"]): x for x in out["rows"]}
    for (cid, code, dim), values in raw.items():
        side = "a" if cid == syn.campaign_id else "b"
        cell = (rows.get((code, dim)) or {}).get(side)
        if len(values) < k:
            assert cell is None  # suppressed in that campaign's indicators, so absent here
            continue
        if cell is None:
            continue  # secondarily suppressed: checked against the indicators below
        # Score = the mean put on 0..100 over the scale's ends, from the raw answers.
        assert cell["n"] == len(values)
        assert abs(cell["score"] - 100 * (np.mean(values) - 1) / 4) < 0.051
    assert rows[(syn.unit_codes[0], "attitude")]["a"] is not None
    assert rows[(syn.unit_codes[0], "attitude")]["b"] is not None
    # Each side is exactly what that campaign's indicators publish.
    for cid, side in ((syn.campaign_id, "a"), (later.campaign_id, "b")):
        ind = client.get(f"/api/v1/campaigns/{cid}/indicators", headers=evaluator).json()["rows"]
        published = {(x["unit_code"], x["dimension"]): x for x in ind if not x["suppressed"]}
        shown = {key: x[side] for key, x in rows.items() if x[side] is not None}
        assert set(shown) == set(published)
        for key, cell in shown.items():
            assert cell["score"] == published[key]["score"] and cell["n"] == published[key]["n"]
