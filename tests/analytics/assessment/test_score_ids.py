"""A deleted score's id is never handed to a later score, so repeating a DELETE (a retry, a
stale console page) finds nothing instead of removing the score that took the id."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.analytics.assessment.conftest import World
from tests.analytics.assessment.test_api import BASE, _create, _score


def test_a_deleted_scores_id_is_not_reused(client: TestClient, world: World) -> None:
    aid = _create(client, world)["id"]
    assert _score(client, world, aid, world.teams[0], "results", 80).status_code == 201
    r = _score(client, world, aid, world.teams[1], "results", 70)
    assert r.status_code == 201, r.text
    newest = r.json()["id"]
    assert client.delete(f"{BASE}/{aid}/scores/{newest}", headers=world.org).status_code == 204

    r = _score(client, world, aid, world.teams[1], "results", 75)
    assert r.status_code == 201, r.text
    assert r.json()["id"] > newest
    assert client.delete(f"{BASE}/{aid}/scores/{newest}", headers=world.org).status_code == 404
    kept = client.get(f"{BASE}/{aid}/scores", headers=world.org).json()
    assert sorted(s["score"] for s in kept) == [75, 80]
