"""The assessment's API: configuration, entered scores, finalisation, results, access, audit."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, col, select

from analytics.assessment import sources
from analytics.indicators.service import ranking
from service.audit import AuditEntry
from service.db import utcnow
from service.models import Role
from surveys.forms.models import Campaign
from tests.analytics.assessment.conftest import World
from tests.factories import headers_for

BASE = "/api/v1/assessments"


def _create(client: TestClient, world: World, **over: Any) -> dict[str, Any]:
    body = {
        "year": 2026,
        "title": "2026 年度综合考核",
        "kind": "team",
        "public_campaign_ids": [world.syn.campaign_id],
        "evaluation_campaign_ids": [world.evaluation_campaign_id],
        **over,
    }
    r = client.post(BASE, json=body, headers=world.org)
    assert r.status_code == 201, r.text
    return r.json()


def _score(
    client: TestClient, world: World, aid: int, subject: int, source: str, score: float, **kw: Any
) -> Any:
    body = {
        "subject_id": subject,
        "source": source,
        "score": score,
        "source_text": "区考核办",
        **kw,
    }
    return client.post(f"{BASE}/{aid}/scores", json=body, headers=world.org)


def test_create_defaults_and_access(client: TestClient, session: Session, world: World) -> None:
    a = _create(client, world)
    assert a["config"]["weights"] == {"public": 30, "evaluation": 30, "results": 25, "reform": 15}
    assert a["config_hash"] is None
    assert client.get(BASE).status_code == 401
    ev = headers_for(client, session, Role.evaluator, "ev1")
    assert client.get(BASE, headers=ev).status_code == 403
    assert client.get(f"{BASE}/{a['id']}/results", headers=ev).status_code == 403
    assert client.get(f"{BASE}/{a['id']}/results").status_code == 401
    admin = headers_for(client, session, Role.admin, "adm1")
    assert client.get(BASE, headers=admin).json()[0]["id"] == a["id"]
    assert client.get(f"{BASE}/999", headers=admin).status_code == 404


def test_create_refusals(client: TestClient, world: World) -> None:
    _create(client, world)
    r = client.post(BASE, json={"year": 2026, "title": "2026 年度综合考核"}, headers=world.org)
    assert r.status_code == 409
    r = client.post(
        BASE,
        json={"year": 2026, "title": "x", "weights": {"public": 30, "x": 1}},
        headers=world.org,
    )
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"][:2] == ["body", "weights"]
    r = client.post(
        BASE,
        json={"year": 2026, "title": "y", "public_campaign_ids": [world.evaluation_campaign_id]},
        headers=world.org,
    )
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "public_campaign_ids", 0]
    r = client.post(
        BASE, json={"year": 2026, "title": "z", "evaluation_campaign_ids": [999]}, headers=world.org
    )
    assert r.status_code == 422


def test_scores_entered_with_refusals(client: TestClient, world: World) -> None:
    aid = _create(client, world)["id"]
    r = _score(client, world, aid, world.teams[0], "results", 88.5)
    assert r.status_code == 201, r.text
    assert r.json()["subject_name"] == "班子1"
    assert r.json()["entered_by"] == "org1"
    assert _score(client, world, aid, world.teams[0], "results", 80).status_code == 409
    r = _score(client, world, aid, world.leader, "results", 80)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "subject_id"]
    r = _score(client, world, aid, world.teams[1], "reform", 80, ci_low=85, ci_high=90)
    assert r.status_code == 422
    r = _score(client, world, aid, world.teams[1], "reform", 101)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "score"]
    r = _score(client, world, aid, world.teams[1], "public", 80)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "source"]
    scores = client.get(f"{BASE}/{aid}/scores", headers=world.org).json()
    assert len(scores) == 1
    r = client.delete(f"{BASE}/{aid}/scores/{scores[0]['id']}", headers=world.org)
    assert r.status_code == 204
    assert client.get(f"{BASE}/{aid}/scores", headers=world.org).json() == []


def test_finalise_freezes_and_hashes(client: TestClient, session: Session, world: World) -> None:
    aid = _create(client, world)["id"]
    r = client.patch(
        f"{BASE}/{aid}", json={"weights": {"public": 50, "results": 50}}, headers=world.org
    )
    assert r.status_code == 200
    assert r.json()["config"]["weights"] == {
        "public": 50,
        "evaluation": 0,
        "results": 50,
        "reform": 0,
    }
    # Not while the democratic evaluation it uses is open (test_snapshot has the details).
    assert client.post(f"{BASE}/{aid}/finalise", headers=world.org).status_code == 409
    session.exec(  # type: ignore[call-overload]
        update(Campaign)
        .where(Campaign.id == world.evaluation_campaign_id)
        .values(closes_at=utcnow() - timedelta(hours=1))
    )
    session.commit()
    r = client.post(f"{BASE}/{aid}/finalise", headers=world.org)
    assert r.status_code == 200
    body = r.json()
    canonical = json.dumps(
        body["config"], ensure_ascii=False, sort_keys=True, separators=(",", ":")
    )
    assert body["config_hash"] == hashlib.sha256(canonical.encode()).hexdigest()
    assert body["finalised_by"] == "org1"
    assert (
        client.patch(f"{BASE}/{aid}", json={"title": "new"}, headers=world.org).status_code == 409
    )
    assert _score(client, world, aid, world.teams[0], "results", 80).status_code == 409
    assert client.post(f"{BASE}/{aid}/finalise", headers=world.org).status_code == 409
    actions = session.exec(select(AuditEntry.action).order_by(col(AuditEntry.id))).all()
    assert [a for a in actions if a.startswith("assessment.")] == [
        "assessment.create",
        "assessment.update",
        "assessment.finalise",
    ]


def test_results_against_independent_computation(
    client: TestClient,
    session: Session,
    world: World,
    evaluation_scores: dict[int, sources.Measured],
) -> None:
    aid = _create(client, world)["id"]
    entered = {t: (60 + 7 * i, 70 + 5 * ((i * 3) % 4)) for i, t in enumerate(world.teams)}
    for t, (res, ref) in entered.items():
        assert _score(client, world, aid, t, "results", res).status_code == 201
        if t != world.teams[3]:
            assert (
                _score(
                    client, world, aid, t, "reform", ref, ci_low=ref - 4, ci_high=ref + 4
                ).status_code
                == 201
            )
    for i, t in enumerate(world.teams):
        evaluation_scores[t] = sources.Measured(75.0 + 4 * i, 72.0 + 4 * i, 78.0 + 4 * i, 40)
    r = client.get(f"{BASE}/{aid}/results", headers=world.org)
    assert r.status_code == 200, r.text
    rows = {s["subject_id"]: s for s in r.json()["subjects"]}
    assert set(rows) == set(world.teams)
    pub = {
        row["unit_code"]: row
        for row in ranking(session, campaign_id=world.syn.campaign_id, min_group_size=5).rows
    }
    w = np.array([30.0, 30.0, 25.0, 15.0])
    z = 1.959963984540054
    complete = []
    for i, t in enumerate(world.teams):
        p = pub[world.syn.unit_codes[i]]
        got = rows[t]
        # 群众口碑 is the indicators' composite index, never recomputed.
        assert got["sources"]["public"]["score"] == pytest.approx(p["index"])
        assert got["sources"]["public"]["low"] == pytest.approx(p["ci_low"])
        res, ref = entered[t]
        x = np.array([p["index"], 75.0 + 4 * i, res, ref])
        se = np.array([(p["ci_high"] - p["ci_low"]) / (2 * z), 6.0 / (2 * z), 0.0, 8.0 / (2 * z)])
        ww = w.copy()
        if t == world.teams[3]:
            ww[3] = 0.0
        value = np.sum(ww * x) / ww.sum()
        half = z * np.sqrt(np.sum((ww / ww.sum()) ** 2 * se**2))
        assert got["composite"] == pytest.approx(value, abs=1e-3)
        assert got["ci_low"] == pytest.approx(value - half, abs=1e-3)
        assert got["ci_high"] == pytest.approx(value + half, abs=1e-3)
        if t == world.teams[3]:
            assert got["missing"] == ["reform"] and not got["complete"]
            assert got["rank"] is None and got["rank_low"] is None
        else:
            assert got["complete"] and got["missing"] == []
            complete.append((value, t))
    order = [t for _, t in sorted(complete, reverse=True)]
    assert [rows[t]["rank"] for t in order] == [1, 2, 3]
    for t in order:
        assert rows[t]["rank_low"] <= rows[t]["rank"] <= rows[t]["rank_high"]
        assert "public+10" in rows[t]["ranks"] and "drop_reform" in rows[t]["ranks"]
    assert {s["scenario"] for s in r.json()["scenarios"]} >= {"public+10", "reform-10", "borda"}


def test_every_view_is_audited(
    client: TestClient,
    session: Session,
    world: World,
    evaluation_scores: dict[int, sources.Measured],
) -> None:
    aid = _create(client, world)["id"]
    assert client.get(f"{BASE}/{aid}/results", headers=world.org).status_code == 200
    r = client.get(f"{BASE}/{aid}/results/{world.teams[1]}", headers=world.org)
    assert r.status_code == 200
    assert [s["subject_id"] for s in r.json()["subjects"]] == [world.teams[1]]
    assert client.get(f"{BASE}/{aid}/results/{world.leader}", headers=world.org).status_code == 404
    views = session.exec(
        select(AuditEntry)
        .where(AuditEntry.action == "assessment.view")
        .order_by(col(AuditEntry.id))
    ).all()
    assert [(v.actor, v.target, json.loads(v.detail)["subject_id"]) for v in views] == [
        ("org1", f"assessment:{aid}", None),
        ("org1", f"assessment:{aid}", world.teams[1]),
    ]


def test_import_preview_then_all_or_nothing(
    client: TestClient, session: Session, world: World
) -> None:
    aid = _create(client, world)["id"]
    t = world.teams
    good = (
        "subject_id,source,score,source_text,ci_low,ci_high\n"
        f"{t[0]},results,81,区考核办 2026 年度目标考核,,\n"
        f"{t[1]},reform,77.5,改革办,75,80\n"
    )
    bad = good + f"{t[0]},results,70,重复,,\n{world.leader},reform,abc,x,,\n{t[2]},results,60,,,\n"
    url = f"{BASE}/{aid}/scores/import"
    r = client.post(url, files={"file": ("s.csv", bad.encode())}, headers=world.org)
    assert r.status_code == 200
    body = r.json()
    assert not body["valid"] and body["count"] == 5
    errs = {row["row"]: row["errors"] for row in body["rows"]}
    assert errs[2] == {} and errs[3] == {}
    assert set(errs[4]) == {"source"}
    assert set(errs[5]) == {"score"}
    assert set(errs[6]) == {"source_text"}
    r = client.post(
        url + "?dry_run=false", files={"file": ("s.csv", bad.encode())}, headers=world.org
    )
    assert r.status_code == 422
    assert ["row", 4, "source"] in [e["loc"] for e in r.json()["detail"]]
    assert client.get(f"{BASE}/{aid}/scores", headers=world.org).json() == []
    r = client.post(
        url + "?dry_run=false", files={"file": ("s.csv", good.encode())}, headers=world.org
    )
    assert r.status_code == 201, r.text
    stored = client.get(f"{BASE}/{aid}/scores", headers=world.org).json()
    assert [(s["subject_id"], s["source"], s["score"], s["ci_low"]) for s in stored] == [
        (t[0], "results", 81.0, None),
        (t[1], "reform", 77.5, 75.0),
    ]
    assert stored[0]["source_text"] == "区考核办 2026 年度目标考核"
    r = client.post(
        url, content=b"name,score\nx,1\n", headers={**world.org, "content-type": "text/csv"}
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "file"]
    actions = session.exec(select(AuditEntry.action)).all()
    assert actions.count("assessment.score.create") == 2
    assert actions.count("assessment.score.import") == 1
