"""The demo district's democratic evaluation: three street leadership teams and six of their
leaders, rated last month by team members, staff and people served (closed, so its results
show). One leader is rated poorly enough that the warning-talk rule (诫勉谈话) applies."""

from __future__ import annotations

import random
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from service.db import stored_id, utcnow
from surveys.evaluation import campaigns
from surveys.evaluation.config import default_config
from surveys.evaluation.models import GRADE_TABLE, RESPONSE_TABLE, EvaluationSubject, SubjectKind
from surveys.forms.models import INVITATION_TABLE
from surveys.forms.schemas import CampaignCreate
from surveys.units.models import Unit

STREETS = ["jianshe", "heping", "xinhua"]
LEADERS = [("书记", "党工委书记"), ("主任", "办事处主任")]
NAMES = ["王建国", "李秀英", "张伟", "刘芳", "陈明", "杨静"]
# Raters per group: enough in each for its counts to be shown.
RATERS = {"members": 9, "staff": 30, "served": 45}
# Chance of each grade (excellent, competent, basic, incompetent, unknown) by subject quality.
GOOD = (0.55, 0.33, 0.06, 0.01, 0.05)
FAIR = (0.30, 0.45, 0.15, 0.03, 0.07)
POOR = (0.10, 0.40, 0.30, 0.12, 0.08)


def build(*, engine: Engine, rng: random.Random, responses: int) -> None:
    """Subjects, a closed campaign over them, and every rater's sheet."""
    now = utcnow()
    with Session(engine) as s:
        units = {u.code: u for u in s.exec(select(Unit))}
        subjects: list[EvaluationSubject] = []
        for street in STREETS:
            team = units.get(f"team-{street}")
            unit = units.get(f"street-{street}")
            if team is None or unit is None:
                return  # another unit tree: nothing to rate
            subjects.append(
                EvaluationSubject(kind=SubjectKind.team, name=team.name, unit_id=team.id)
            )
            for _, post in LEADERS:
                subjects.append(
                    EvaluationSubject(
                        kind=SubjectKind.leader,
                        name=NAMES[len(subjects) % len(NAMES)],
                        post=f"{unit.name}{post}",
                        unit_id=unit.id,
                        term_start=(now - timedelta(days=3 * 365)).date(),
                    )
                )
        s.add_all(subjects)
        s.flush()
        data = CampaignCreate(
            kind="democratic_evaluation",
            title="2026年度街道领导班子和领导干部民主测评",
            title_en="2026 democratic evaluation of subdistrict teams and leaders",
            opens_at=now - timedelta(days=40),
            closes_at=now - timedelta(days=10),
            subject_ids=[stored_id(x) for x in subjects],
        )
        campaign = campaigns.create_campaign(s, data=data)
        cid = stored_id(campaign)
        cfg = default_config()
        quality = [GOOD if i % 3 == 0 else FAIR for i in range(len(subjects))]
        quality[-1] = POOR
        keys = cfg.grade_keys()
        conn = s.connection()
        for group, n in RATERS.items():
            conn.execute(
                sa.insert(INVITATION_TABLE),
                [
                    {
                        "campaign_id": cid,
                        "code_hash": f"demo-{cid}-{group}-{i}",
                        "used": True,
                        "batch": "demo",
                        "rater_group": group,
                    }
                    for i in range(n)
                ],
            )
            for _ in range(n):
                hour = now - timedelta(days=rng.randint(11, 39), hours=rng.randint(0, 23))
                rid = conn.execute(
                    sa.insert(RESPONSE_TABLE)
                    .values(
                        campaign_id=cid,
                        rater_group=group,
                        submitted_hour=hour.replace(minute=0, second=0, microsecond=0),
                    )
                    .returning(RESPONSE_TABLE.c.id)
                ).scalar_one()
                rows = [
                    {
                        "response_id": rid,
                        "subject_id": stored_id(subject),
                        "item": q,
                        "grade": rng.choices(keys, weights=quality[i])[0],
                    }
                    for i, subject in enumerate(subjects)
                    for q in cfg.questions()
                ]
                conn.execute(sa.insert(GRADE_TABLE), rows)
        s.commit()
