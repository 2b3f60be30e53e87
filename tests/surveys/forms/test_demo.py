"""The demo district's survey data: shape, structure, flags, and the invitation campaign."""

from __future__ import annotations

import random
from collections import defaultdict

import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlmodel import Session, select

from surveys.forms import demo
from surveys.forms.models import Campaign, Invitation, Survey
from surveys.units import demo as units_demo


@pytest.mark.slow
def test_demo_survey_data(app: FastAPI) -> None:
    engine = app.state.engine
    rng = random.Random(7)
    units_demo.build(engine=engine, rng=rng, responses=3000)
    demo.build(engine=engine, rng=rng, responses=3000)
    with Session(engine) as s:
        survey = s.exec(select(Survey)).one()
        assert survey.frozen and survey.title == "政风行风民主评议问卷"
        year, invite = s.exec(select(Campaign).order_by(Campaign.id)).all()
        assert (year.closes_at - year.opens_at).days >= 365
        assert invite.access == "invitation"
        used = [i.used for i in s.exec(select(Invitation))]
        assert len(used) == 300 and sum(used) == 120
    with engine.connect() as conn:

        def q(sql: str, **kw: object) -> list[tuple]:  # type: ignore[type-arg]
            return [tuple(r) for r in conn.execute(text(sql), kw)]

        counts = dict(q("SELECT campaign_id, count(*) FROM survey_response GROUP BY campaign_id"))
        assert counts == {year.id: 3000, invite.id: 120}
        flagged = q(
            "SELECT flags, count(*) FROM survey_response WHERE flagged = :t GROUP BY flags", t=True
        )
        assert sum(n for _, n in flagged) == 132  # three stuffing attempts, first of each unflagged
        assert any("burst" in f for f, _ in flagged)
        imported = q("SELECT count(*) FROM survey_response WHERE source = 'import'")[0][0]
        assert 100 < imported < 400
        comments = [
            c for (c,) in q("SELECT comment FROM survey_response WHERE comment IS NOT NULL")
        ]
        assert len(comments) > 500 and any("跑了三趟" in c for c in comments)
        assert any("态度很好" in c for c in comments)
        # Units differ: the spread of unit means on attitude is wide.
        means = [
            m
            for (m, n) in q(
                "SELECT avg(a.value_num), count(*) FROM survey_response r JOIN response_answer a"
                " ON a.response_id = r.id WHERE a.question_key = 'attitude' AND r.flagged = :f"
                " GROUP BY r.unit_id",
                f=False,
            )
            if n >= 30
        ]
        assert max(means) - min(means) > 0.6
        by_age: dict[str, list[float]] = defaultdict(list)
        for age, v in q(
            "SELECT r.age_band, a.value_num FROM survey_response r JOIN response_answer a"
            " ON a.response_id = r.id WHERE a.question_key = 'attitude' AND r.age_band IS NOT NULL"
        ):
            by_age[age].append(v)
        young, old = by_age["18-29"], by_age["70+"]
        assert sum(old) / len(old) > sum(young) / len(young)
        hours = q("SELECT count(DISTINCT submitted_hour) FROM survey_response")[0][0]
        assert hours > 1000
