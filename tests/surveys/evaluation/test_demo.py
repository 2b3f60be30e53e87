"""The demo's democratic evaluation: three teams and six leaders, every group above k, closed,
and one leader whose overall grades meet the warning-talk rule."""

from __future__ import annotations

import random
from fractions import Fraction

from fastapi import FastAPI
from sqlmodel import Session, select

from service.db import utcnow
from surveys.evaluation import demo, service
from surveys.evaluation.models import SubjectKind
from surveys.forms.models import Campaign
from surveys.units import demo as units_demo


def test_demo_evaluation(app: FastAPI) -> None:
    engine = app.state.engine
    rng = random.Random(7)
    units_demo.build(engine=engine, rng=rng, responses=0)
    demo.build(engine=engine, rng=rng, responses=0)
    with Session(engine) as s:
        (campaign,) = s.exec(select(Campaign).where(Campaign.kind == "democratic_evaluation"))
        assert campaign.closes_at < utcnow() and campaign.evaluation_hash
        cid = campaign.id or 0
        subjects = service.campaign_subjects(s, campaign_id=cid)
        kinds = [x.kind for x in subjects]
        assert kinds.count(SubjectKind.team) == 3 and kinds.count(SubjectKind.leader) == 6
        assert service.responses_per_group(s, campaign_id=cid) == demo.RATERS
        counts = service.grade_counts(s, campaign_id=cid)
    overall: dict[int, dict[str, int]] = {}
    for c in counts:
        if c.item == "overall":
            cell = overall.setdefault(c.subject_id, {})
            cell[c.grade] = cell.get(c.grade, 0) + c.n
    poor = overall[subjects[-1].id or 0]
    known = sum(n for g, n in poor.items() if g != "unknown")
    assert Fraction(poor.get("excellent", 0) + poor.get("competent", 0), known) < Fraction(2, 3)
