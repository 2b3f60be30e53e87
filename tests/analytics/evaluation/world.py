"""A closed democratic evaluation written straight into the tables: two teams and a leader,
three rater groups of chosen sizes, grades drawn from a seeded generator."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
from sqlalchemy.engine import Engine
from sqlmodel import Session

from analytics.evaluation.results import GradeRow
from service.db import stored_id, utcnow
from surveys.evaluation.config import DEFAULT_CONFIG, frozen_hash
from surveys.evaluation.models import (
    EvaluationCampaignSubject,
    EvaluationGrade,
    EvaluationResponse,
    EvaluationSubject,
    SubjectKind,
)
from surveys.forms.models import Campaign, Survey
from surveys.units.models import Unit, UnitKind

GRADES = ["excellent", "competent", "basic", "incompetent", "unknown"]
QUESTIONS = ["overall", "de", "neng", "qin", "ji", "lian"]
# Per subject, the chances of each grade: the leader is graded harshly enough to be flagged.
CHANCES = {
    0: [0.5, 0.35, 0.08, 0.02, 0.05],
    1: [0.3, 0.4, 0.15, 0.05, 0.1],
    2: [0.1, 0.3, 0.15, 0.4, 0.05],
}


@dataclass
class World:
    campaign_id: int
    subject_ids: list[int]
    rows: list[GradeRow]
    config: dict[str, Any]


def build(
    engine: Engine,
    *,
    sizes: dict[str, int] | None = None,
    seed: int = 1,
    closed: bool = True,
    config: dict[str, Any] | None = None,
    prefix: str = "ev",
) -> World:
    """Write the evaluation and its sheets; return the ids and every grade row written."""
    sizes = sizes or {"members": 3, "staff": 8, "served": 12}
    cfg = copy.deepcopy(config or DEFAULT_CONFIG)
    rng = np.random.default_rng(seed)
    now = utcnow()
    with Session(engine) as s:
        units = [
            Unit(
                code=f"{prefix}-civil",
                name="民政局",
                name_en="Civil Affairs",
                kind=UnitKind.department,
            ),
            Unit(
                code=f"{prefix}-hrss",
                name="人社局",
                name_en="Human Resources",
                kind=UnitKind.department,
            ),
        ]
        s.add_all(units)
        survey = Survey(title="民主测评", frozen=True)
        s.add(survey)
        s.flush()
        subjects = [
            EvaluationSubject(kind=SubjectKind.team, name="民政局领导班子", unit_id=units[0].id),
            EvaluationSubject(kind=SubjectKind.team, name="人社局领导班子", unit_id=units[1].id),
            EvaluationSubject(
                kind=SubjectKind.leader, name="张明", post="局长", unit_id=units[0].id
            ),
        ]
        s.add_all(subjects)
        campaign = Campaign(
            survey_id=stored_id(survey),
            title="2026年度民主测评",
            title_en="2026 democratic evaluation",
            opens_at=now - timedelta(days=7),
            closes_at=now - timedelta(hours=1) if closed else now + timedelta(days=1),
            kind="democratic_evaluation",
            evaluation=cfg,
            evaluation_hash=frozen_hash(cfg),
        )
        s.add(campaign)
        s.flush()
        cid = stored_id(campaign)
        ids = [stored_id(x) for x in subjects]
        for pos, sid in enumerate(ids):
            s.add(EvaluationCampaignSubject(campaign_id=cid, subject_id=sid, position=pos))
        rows: list[GradeRow] = []
        hour = (now - timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
        for group, n in sizes.items():
            for _ in range(n):
                resp = EvaluationResponse(campaign_id=cid, rater_group=group, submitted_hour=hour)
                s.add(resp)
                s.flush()
                rid = stored_id(resp)
                for j, sid in enumerate(ids):
                    for q in QUESTIONS:
                        grade = GRADES[rng.choice(5, p=CHANCES[j])]
                        s.add(EvaluationGrade(response_id=rid, subject_id=sid, item=q, grade=grade))
                        rows.append(GradeRow(group, sid, q, grade, rid))
        s.commit()
    return World(cid, ids, rows, cfg)
