"""The demo district's assessment: every team has all four sources and a rank."""

from __future__ import annotations

import random

from fastapi import FastAPI
from sqlmodel import Session, select

from analytics.assessment import demo
from analytics.assessment.models import Assessment
from analytics.assessment.results import compute_results
from service import demo as service_demo
from surveys.evaluation import demo as evaluation_demo
from surveys.forms import demo as forms_demo
from surveys.units import demo as units_demo


def test_demo_assessment_ranks_every_team(app: FastAPI) -> None:
    assert "analytics.assessment.demo:build" in service_demo.DEMO_STEPS
    engine = app.state.engine
    rng = random.Random(7)
    for step in (units_demo.build, forms_demo.build, evaluation_demo.build, demo.build):
        step(engine=engine, rng=rng, responses=3000)
    with Session(engine) as s:
        assessment = s.exec(select(Assessment)).one()
        result = compute_results(s, assessment=assessment, min_group_size=5)
    assert len(result.subjects) == 3
    for row in result.subjects:
        assert row.complete, row
        assert all(row.sources[k] is not None for k in ("public", "evaluation", "results"))
    assert sorted(r.rank or 0 for r in result.subjects) == [1, 2, 3]
