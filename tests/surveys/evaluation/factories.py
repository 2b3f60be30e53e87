"""Factories for the evaluation tests: subjects, a democratic evaluation, codes, a sheet."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from service.db import utcnow
from tests.conftest import SECRETS


def make_subjects(client: TestClient, headers: dict[str, str]) -> list[int]:
    """Two teams and a leader, over the units of tests.surveys.forms.factories.make_units."""
    bodies = [
        {"kind": "team", "name": "民政局领导班子", "unit_code": "dept-civil"},
        {"kind": "team", "name": "人社局领导班子", "unit_code": "dept-hrss"},
        {"kind": "leader", "name": "张明", "post": "局长", "unit_code": "dept-civil"},
    ]
    ids = []
    for body in bodies:
        r = client.post("/api/v1/subjects", json=body, headers=headers)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    return ids


def campaign_body(
    subject_ids: list[int], *, opens_in: timedelta = timedelta(0), **extra: Any
) -> dict[str, Any]:
    now = utcnow()
    return {
        "kind": "democratic_evaluation",
        "title": "2026年度民主测评",
        "title_en": "2026 democratic evaluation",
        "opens_at": (now + opens_in - timedelta(minutes=1)).isoformat(),
        "closes_at": (now + timedelta(days=7)).isoformat(),
        "subject_ids": subject_ids,
        **extra,
    }


def create_evaluation(
    client: TestClient, admin: dict[str, str], subject_ids: list[int], **extra: Any
) -> int:
    r = client.post("/api/v1/campaigns", json=campaign_body(subject_ids, **extra), headers=admin)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def codes(
    client: TestClient, admin: dict[str, str], cid: int, group: str, n: int, *, in_url: bool = False
) -> list[str]:
    """New codes of a rater group; watched for in the log unless a test puts them in a URL (the
    test client logs URLs; the product's access log drops query strings)."""
    r = client.post(
        f"/api/v1/campaigns/{cid}/invitations",
        json={"count": n, "rater_group": group},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    out: list[str] = r.json()["codes"]
    if not in_url:
        SECRETS.update(out)
    return out


ITEMS = ["de", "neng", "qin", "ji", "lian", "overall"]


def sheet(code: str, subject_ids: list[int], grade: str = "excellent") -> dict[str, Any]:
    return {
        "invitation_code": code,
        "grades": {str(s): {q: grade for q in ITEMS} for s in subject_ids},
    }
