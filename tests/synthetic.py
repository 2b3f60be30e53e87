"""Synthetic survey data with known structure, for analytics tests and benchmarks.

Writes straight into the survey tables in bulk and keeps the statistics through
``surveys.forms.stats.record_batch``, exactly as every other writer must.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import Engine
from sqlmodel import col

from service.db import utcnow
from surveys.forms.models import Answer, Campaign, CampaignUnit, Question, Survey, SurveyResponse
from surveys.forms.stats import record_batch
from surveys.units.models import Unit

DIMENSIONS = ["attitude", "efficiency", "integrity", "results"]
AGE_BANDS = ["18-29", "30-44", "45-59", "60+"]
SEXES = ["female", "male"]

POSITIVE = [
    "街道办的工作人员态度很好，办事效率高",
    "社保窗口服务热情，一次就办好了",
    "12345热线回复很及时，问题解决了",
    "社区环境改善很大，感谢工作人员",
    "办事流程简单，网上就能办，非常方便",
    "The staff were helpful and quick.",
]
NEGATIVE = [
    "排队时间太长，窗口人员态度冷淡",
    "打了三次12345都没人处理，很失望",
    "社保办理手续繁琐，跑了好几趟",
    "小区垃圾没人清理，投诉也没有用",
    "街道办推来推去，问题一直没解决",
    "Nobody answered my complaint for weeks.",
]


@dataclass
class Synthetic:
    """What was generated: ids to query and the truth behind it."""

    campaign_id: int
    unit_ids: list[int]
    unit_codes: list[str]
    area_ids: list[int]
    area_codes: list[str]
    questions: dict[str, dict[str, Any]] = field(default_factory=dict)
    responses: int = 0


def _pk(result: Any) -> int:
    return int(result.inserted_primary_key[0])


def _next_id(conn: Any, column: Any) -> int:
    return int(conn.execute(select(func.coalesce(func.max(column), 0))).scalar_one()) + 1


def make_campaign(
    engine: Engine,
    *,
    units: int = 20,
    areas: int = 6,
    prefix: str = "syn",
    dimension_weights: dict[str, float] | None = None,
    questions: dict[str, dict[str, Any]] | None = None,
) -> Synthetic:
    """Units, areas, a survey (4 rated dimensions, NPS, comment) and an open campaign.

    ``questions`` replaces the survey's questions, by key: ``{"type": "rating" | "nps" |
    "text", "dimension": str | None, "min": int | None, "max": int | None}``; answer such a
    survey with ``add_answers`` (``add_responses`` writes the default questions)."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with engine.begin() as conn:
        area_ids, area_codes = [], []
        for i in range(areas):
            code = f"{prefix}-area-{i + 1}"
            res = conn.execute(
                insert(Unit).values(
                    code=code, name=f"社区{i + 1}", kind="community", created_at=now
                )
            )
            area_ids.append(_pk(res))
            area_codes.append(code)
        unit_ids, unit_codes = [], []
        for i in range(units):
            code = f"{prefix}-unit-{i + 1:03d}"
            res = conn.execute(
                insert(Unit).values(
                    code=code, name=f"部门{i + 1}", kind="department", created_at=now
                )
            )
            unit_ids.append(_pk(res))
            unit_codes.append(code)
        res = conn.execute(insert(Survey).values(title="满意度", frozen=True, created_at=utcnow()))
        survey_id = _pk(res)
        if questions is None:
            questions = {}
            for dim in DIMENSIONS:
                questions[f"q_{dim}"] = {"type": "rating", "dimension": dim, "min": 1, "max": 5}
            questions["q_nps"] = {"type": "nps", "dimension": None, "min": 0, "max": 10}
            questions["q_comment"] = {"type": "text", "dimension": None, "min": None, "max": None}
        else:
            questions = {key: dict(q) for key, q in questions.items()}
        for pos, (key, q) in enumerate(questions.items()):
            conn.execute(
                insert(Question).values(
                    survey_id=survey_id,
                    position=pos,
                    key=key,
                    type=q["type"],
                    label=key,
                    required=False,
                    dimension=q["dimension"],
                    scale_min=q["min"],
                    scale_max=q["max"],
                )
            )
        margins = {
            "area": {c: 1.0 / areas for c in area_codes},
            "age_band": {"18-29": 0.2, "30-44": 0.3, "45-59": 0.3, "60+": 0.2},
            "sex": {"female": 0.5, "male": 0.5},
        }
        res = conn.execute(
            insert(Campaign).values(
                survey_id=survey_id,
                title="综合评价",
                opens_at=now,
                closes_at=now + timedelta(days=365),
                access="open",
                dimension_weights=dimension_weights,
                margins=margins,
                created_at=utcnow(),
            )
        )
        campaign_id = _pk(res)
        conn.execute(
            insert(CampaignUnit), [{"campaign_id": campaign_id, "unit_id": u} for u in unit_ids]
        )
    return Synthetic(campaign_id, unit_ids, unit_codes, area_ids, area_codes, questions)


def another_campaign(engine: Engine, syn: Synthetic, survey_id: int | None = None) -> Synthetic:
    """A second open campaign about the same units, on ``survey_id`` (default: the same
    questionnaire as ``syn``'s campaign), with no responses yet."""
    now = utcnow()
    with engine.begin() as conn:
        if survey_id is None:
            survey_id = conn.execute(
                select(col(Campaign.survey_id)).where(col(Campaign.id) == syn.campaign_id)
            ).scalar_one()
        cid = _pk(
            conn.execute(
                insert(Campaign).values(
                    survey_id=survey_id,
                    title="复评",
                    opens_at=now - timedelta(days=1),
                    closes_at=now + timedelta(days=30),
                    access="open",
                    created_at=now,
                )
            )
        )
        conn.execute(
            insert(CampaignUnit), [{"campaign_id": cid, "unit_id": u} for u in syn.unit_ids]
        )
    return Synthetic(cid, syn.unit_ids, syn.unit_codes, syn.area_ids, syn.area_codes, syn.questions)


def add_responses(
    engine: Engine,
    syn: Synthetic,
    *,
    n: int,
    seed: int = 1,
    days: int = 90,
    unit_sizes: list[float] | None = None,
    flagged_share: float = 0.03,
    comment_share: float = 0.3,
    chunk: int = 5000,
    spread: float = 0.8,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Add n responses: units differ in quality, respondents over-represent women and the old."""
    rng = np.random.default_rng(seed)
    n_units = len(syn.unit_ids)
    quality = np.linspace(-spread, spread, n_units)
    rng.shuffle(quality)
    sizes = np.asarray(unit_sizes if unit_sizes is not None else np.ones(n_units), float)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    done = 0
    while done < n:
        m = min(chunk, n - done)
        u = rng.choice(n_units, size=m, p=sizes / sizes.sum())
        area = rng.integers(0, len(syn.area_ids), size=m)
        age = rng.choice(len(AGE_BANDS), size=m, p=[0.1, 0.25, 0.35, 0.3])
        sex = rng.choice(2, size=m, p=[0.6, 0.4])
        hours = rng.integers(0, days * 24, size=m)
        flagged = rng.random(m) < flagged_share
        person = rng.normal(0, 0.6, size=m) + 0.15 * age
        with engine.begin() as conn:
            first = _next_id(conn, SurveyResponse.id)
            ids = np.arange(first, first + m)
            resp_rows: list[dict[str, Any]] = []
            ans_rows: list[dict[str, Any]] = []
            batch: list[dict[str, Any]] = []
            latent = {
                dim: quality[u] + person + rng.normal(0, 0.8, size=m) + 0.1 * k
                for k, dim in enumerate(DIMENSIONS)
            }
            nps_lat = quality[u] + person + rng.normal(0, 1.0, size=m)
            skip = rng.random((m, len(DIMENSIONS))) < 0.05
            has_comment = rng.random(m) < comment_share
            for i in range(m):
                answers: dict[str, tuple[float | None, str | None]] = {}
                for k, dim in enumerate(DIMENSIONS):
                    if skip[i, k]:
                        continue
                    v = float(np.clip(np.round(3.6 + latent[dim][i]), 1, 5))
                    answers[f"q_{dim}"] = (v, None)
                answers["q_nps"] = (float(np.clip(np.round(7.2 + 1.8 * nps_lat[i]), 0, 10)), None)
                comment = None
                if has_comment[i]:
                    pool = POSITIVE if latent[DIMENSIONS[0]][i] > 0 else NEGATIVE
                    comment = pool[int(rng.integers(0, len(pool)))]
                    answers["q_comment"] = (None, comment)
                submitted = start + timedelta(hours=int(hours[i]))
                rid = int(ids[i])
                row = {
                    "id": rid,
                    "campaign_id": syn.campaign_id,
                    "unit_id": syn.unit_ids[int(u[i])],
                    "area_unit_id": syn.area_ids[int(area[i])],
                    "age_band": AGE_BANDS[int(age[i])],
                    "sex": SEXES[int(sex[i])],
                    "submitted_hour": submitted,
                    "comment": comment,
                    "source": "import",
                    "flags": "burst" if flagged[i] else "",
                    "flagged": bool(flagged[i]),
                    "submission_key": f"syn-{syn.campaign_id}-{rid}",
                }
                resp_rows.append(row)
                for key, (num, txt) in answers.items():
                    ans_rows.append(
                        {
                            "response_id": rid,
                            "question_key": key,
                            "value_num": num,
                            "value_text": txt,
                        }
                    )
                batch.append({**row, "response_id": rid, "answers": answers})
            _store(conn, resp_rows, ans_rows, batch)
        done += m
        syn.responses += m
        if progress:
            progress(done)


def _store(
    conn: Any, resp_rows: list[dict[str, Any]], ans_rows: list[dict[str, Any]], batch: list[Any]
) -> None:
    """Insert responses and answers in bulk and keep the statistics, as every writer must;
    explicit ids leave PostgreSQL's sequence behind, so it is moved past them."""
    conn.execute(insert(SurveyResponse), resp_rows)
    conn.execute(insert(Answer), ans_rows)
    record_batch(conn, batch)
    if conn.dialect.name == "postgresql":
        conn.execute(
            text(
                "SELECT setval(pg_get_serial_sequence('survey_response', 'id'), "
                "(SELECT MAX(id) FROM survey_response))"
            )
        )


def add_answers(engine: Engine, syn: Synthetic, people: list[dict[str, Any]]) -> None:
    """Add one response per dict, with exactly the answers given.

    Each dict holds ``answers`` ({question key: number}) and may hold ``unit`` and ``area``
    (indexes into the campaign's units and areas, default 0), ``age_band``, ``sex`` and
    ``hour`` (hours after 2026-01-01, default 0); for questionnaires of any shape."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with engine.begin() as conn:
        first = _next_id(conn, SurveyResponse.id)
        resp_rows: list[dict[str, Any]] = []
        ans_rows: list[dict[str, Any]] = []
        batch: list[dict[str, Any]] = []
        for i, p in enumerate(people):
            rid = first + i
            row = {
                "id": rid,
                "campaign_id": syn.campaign_id,
                "unit_id": syn.unit_ids[int(p.get("unit", 0))],
                "area_unit_id": syn.area_ids[int(p.get("area", 0))],
                "age_band": p.get("age_band", AGE_BANDS[0]),
                "sex": p.get("sex", SEXES[0]),
                "submitted_hour": start + timedelta(hours=int(p.get("hour", 0))),
                "comment": None,
                "source": "import",
                "flags": "",
                "flagged": False,
                "submission_key": f"syn-{syn.campaign_id}-{rid}",
            }
            answers = {key: (float(v), None) for key, v in p["answers"].items()}
            resp_rows.append(row)
            ans_rows.extend(
                {"response_id": rid, "question_key": key, "value_num": num, "value_text": None}
                for key, (num, _t) in answers.items()
            )
            batch.append({**row, "response_id": rid, "answers": answers})
        if resp_rows:
            _store(conn, resp_rows, ans_rows, batch)
    syn.responses += len(people)
