"""The reads the results build on: configuration, the subjects of a campaign, grades."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from service.db import stored_id, utcnow
from surveys.evaluation import service
from surveys.evaluation.config import DEFAULT_CONFIG, default_config, frozen_hash, problems
from surveys.evaluation.models import (
    EvaluationCampaignSubject,
    EvaluationGrade,
    EvaluationResponse,
    EvaluationSubject,
    SubjectKind,
)
from surveys.forms.models import Campaign, Survey


def test_default_configuration_is_consistent() -> None:
    cfg = default_config()
    assert problems(cfg) == []
    assert cfg.questions() == ["de", "neng", "qin", "ji", "lian", "overall"]
    assert cfg.grade_keys()[-1] == "unknown"
    assert frozen_hash(DEFAULT_CONFIG) == frozen_hash(dict(reversed(DEFAULT_CONFIG.items())))


def test_grade_rows_and_counts(session: Session) -> None:
    survey = Survey(title="民主测评", frozen=True)
    session.add(survey)
    session.flush()
    now = utcnow()
    campaign = Campaign(
        survey_id=stored_id(survey),
        title="2026年度民主测评",
        opens_at=now - timedelta(days=1),
        closes_at=now + timedelta(days=1),
        kind=service.KIND,
        evaluation=DEFAULT_CONFIG,
    )
    team = EvaluationSubject(kind=SubjectKind.team, name="民政局领导班子")
    leader = EvaluationSubject(kind=SubjectKind.leader, name="张三", post="局长")
    session.add_all([campaign, team, leader])
    session.flush()
    cid = stored_id(campaign)
    for pos, s in enumerate([leader, team]):
        session.add(
            EvaluationCampaignSubject(campaign_id=cid, subject_id=stored_id(s), position=pos)
        )
    hour = now.replace(minute=0, second=0, microsecond=0)
    sheets = [("staff", "excellent"), ("staff", "unknown"), ("served", "competent")]
    for group, grade in sheets:
        r = EvaluationResponse(campaign_id=cid, rater_group=group, submitted_hour=hour)
        session.add(r)
        session.flush()
        for s in (team, leader):
            session.add(
                EvaluationGrade(
                    response_id=stored_id(r), subject_id=stored_id(s), item="overall", grade=grade
                )
            )
    session.commit()

    assert service.is_evaluation(campaign)
    assert service.evaluation_config(campaign) == default_config()
    assert [s.name for s in service.campaign_subjects(session, campaign_id=cid)] == [
        "张三",
        "民政局领导班子",
    ]
    rows = service.grade_rows(session, campaign_id=cid)
    assert len(rows) == 6
    assert {(r.rater_group, r.grade) for r in rows} == set(sheets)
    counts = service.grade_counts(session, campaign_id=cid)
    assert sum(c.n for c in counts) == 6
    assert service.GradeCount("staff", stored_id(team), "overall", "excellent", 1) in counts
    assert service.responses_per_group(session, campaign_id=cid) == {"staff": 2, "served": 1}
