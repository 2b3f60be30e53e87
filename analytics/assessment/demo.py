"""The demo district's annual assessment of its three street leadership teams: public opinion
from the year's resident review, the closed democratic evaluation, and results and reform
scores as the assessment office would enter them. Left open, so the console's forms work."""

from __future__ import annotations

import random

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from analytics.assessment import service
from analytics.assessment.schemas import AssessmentCreate, ScoreCreate
from service.db import stored_id
from surveys.evaluation.models import EvaluationSubject, SubjectKind
from surveys.forms.models import Campaign


def build(*, engine: Engine, rng: random.Random, responses: int) -> None:
    """One assessment of the teams, with every entered score (none when the demo has none)."""
    with Session(engine) as s:
        teams = s.exec(
            select(EvaluationSubject)
            .where(EvaluationSubject.kind == SubjectKind.team)
            .order_by(col(EvaluationSubject.id))
        ).all()
        campaigns = s.exec(select(Campaign).order_by(col(Campaign.id))).all()
        resident = [c for c in campaigns if c.kind == "resident"][:1]
        rated = [c for c in campaigns if c.kind == "democratic_evaluation"]
        if not teams or not resident or not rated:
            return
        year = rated[0].closes_at.year
        assessment = service.create_assessment(
            s,
            data=AssessmentCreate(
                year=year,
                title=f"{year}年度街道领导班子综合考核",
                kind="team",
                public_campaign_ids=[stored_id(c) for c in resident],
                evaluation_campaign_ids=[stored_id(c) for c in rated],
            ),
            actor="admin",
        )
        for team in teams:
            for source, text in (
                ("results", f"区考核办 {year} 年度目标考核"),
                ("reform", f"区委改革办 {year} 年度改革攻坚评价"),
            ):
                service.add_score(
                    s,
                    assessment=assessment,
                    data=ScoreCreate(
                        subject_id=stored_id(team),
                        source=source,
                        score=round(rng.uniform(78, 96), 1),
                        source_text=text,
                    ),
                    actor="admin",
                )
        s.commit()
