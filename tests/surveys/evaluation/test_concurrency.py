"""One sheet per code when many race with it, from two servers on one database."""

from __future__ import annotations

import asyncio

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session

from service.models import Role
from tests.factories import headers_for
from tests.surveys.evaluation.factories import codes, create_evaluation, make_subjects, sheet
from tests.surveys.forms.factories import make_units
from tests.surveys.forms.test_writer import _fire, two_servers  # noqa: F401


@pytest.mark.slow
def test_50_concurrent_sheets_with_one_code_store_exactly_one(
    two_servers: tuple[list[str], FastAPI],  # noqa: F811
) -> None:
    urls, app = two_servers
    with TestClient(app) as client, Session(app.state.engine) as session:
        make_units(session)
        admin = headers_for(client, session, Role.admin)
        ids = make_subjects(client, admin)
        cid = create_evaluation(client, admin, ids)
        code = codes(client, admin, cid, "staff", 2)[0]
    grades = ["excellent", "competent", "basic", "incompetent", "unknown"]
    bodies = [sheet(code, ids, grades[i % 5]) for i in range(50)]
    statuses = [
        r.status_code for r in asyncio.run(_fire(urls, f"/api/v1/evaluations/{cid}/sheet", bodies))
    ]
    # One wins; the others are refused (409), or, on a machine too busy to reach the database
    # within the lock bound, told to try again (503): either way they store nothing.
    assert statuses.count(201) == 1, sorted(set(statuses))
    assert set(statuses) <= {201, 409, 503} and statuses.count(409) >= 25, statuses
    with app.state.engine.connect() as conn:
        responses = conn.execute(
            text("SELECT count(*) FROM evaluation_response WHERE campaign_id = :c"), {"c": cid}
        ).scalar_one()
        grades_stored = conn.execute(text("SELECT count(*) FROM evaluation_grade")).scalar_one()
        used = conn.execute(
            text("SELECT count(*) FROM invitation WHERE used = :t AND campaign_id = :c"),
            {"t": True, "c": cid},
        ).scalar_one()
    assert (responses, grades_stored, used) == (1, len(ids) * 6, 1)
