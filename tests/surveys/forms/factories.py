"""Factories for the survey tests: units, a five-dimension questionnaire, campaigns."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import Session

from service.db import utcnow
from surveys.forms.exports import public_id
from surveys.forms.models import RESPONSE_TABLE
from surveys.units.models import Unit, UnitKind

DIMENSIONS = [
    ("attitude", "服务态度", "Attitude"),
    ("efficiency", "办事效率", "Efficiency"),
    ("transparency", "公开透明", "Transparency"),
    ("integrity", "廉洁自律", "Integrity"),
    ("results", "为民实绩", "Results"),
]


def count_responses(engine: Any, campaign_id: int) -> int:
    """The responses stored for a campaign, read on a connection of its own."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(RESPONSE_TABLE)
                .where(RESPONSE_TABLE.c.campaign_id == campaign_id)
            ).scalar_one()
        )


def stored_id(client: TestClient, public: str) -> int:
    """The internal id behind a response's public id (the API never shows the internal one)."""
    app: Any = client.app
    secret = app.state.settings.secret_key or ""
    with app.state.engine.connect() as conn:
        for rid in conn.execute(sa.select(RESPONSE_TABLE.c.id)).scalars():
            if public_id(secret, rid) == public:
                return int(rid)
    raise AssertionError(f"no response has the public id {public}")


def make_units(session: Session) -> dict[str, Unit]:
    """A tiny district: one street with two communities, two departments, one window."""
    rows = [
        ("district", "示范区", "Demo District", UnitKind.district, None),
        ("street-a", "建设街道", "Jianshe Subdistrict", UnitKind.street, "district"),
        ("comm-a1", "幸福社区", "Xingfu Community", UnitKind.community, "street-a"),
        ("comm-a2", "和谐社区", "Hexie Community", UnitKind.community, "street-a"),
        ("dept-civil", "民政局", "Civil Affairs Bureau", UnitKind.department, "district"),
        ("dept-hrss", "人社局", "HR and Social Security Bureau", UnitKind.department, "district"),
        ("win-social", "社保窗口", "Social Insurance Window", UnitKind.service_window, "district"),
    ]
    out: dict[str, Unit] = {}
    for code, name, name_en, kind, parent in rows:
        u = Unit(
            code=code,
            name=name,
            name_en=name_en,
            kind=kind,
            parent_id=out[parent].id if parent else None,
        )
        session.add(u)
        session.flush()
        out[code] = u
    session.commit()
    return out


def survey_body(**extra: Any) -> dict[str, Any]:
    """The five rating dimensions, a recommend score, a choice with a follow-up, a number."""
    questions: list[dict[str, Any]] = [
        {
            "key": key,
            "type": "rating",
            "label": zh,
            "label_en": en,
            "dimension": key,
            "scale_min": 1,
            "scale_max": 5,
            "required": True,
        }
        for key, zh, en in DIMENSIONS
    ]
    questions += [
        {"key": "recommend", "type": "nps", "label": "您会推荐吗？", "label_en": "Recommend?"},
        {
            "key": "channel",
            "type": "single_choice",
            "label": "办理渠道",
            "label_en": "Channel",
            "options": [
                {"value": "hall", "label": "大厅", "label_en": "Hall"},
                {"value": "online", "label": "网上", "label_en": "Online"},
            ],
        },
        {
            "key": "online_issue",
            "type": "multi_choice",
            "label": "网上办理遇到的问题",
            "label_en": "Problems online",
            "options": [
                {"value": "slow", "label": "卡顿", "label_en": "Slow"},
                {"value": "login", "label": "登录难", "label_en": "Login"},
            ],
            "show_if": {"key": "channel", "op": "eq", "value": "online"},
        },
        {
            "key": "visits",
            "type": "number",
            "label": "跑了几趟",
            "label_en": "Visits",
            "scale_min": 0,
        },
    ]
    body: dict[str, Any] = {
        "title": "政风行风评议",
        "title_en": "Public service review",
        "questions": questions,
    }
    body.update(extra)
    return body


def create_survey(client: TestClient, admin: dict[str, str], **extra: Any) -> int:
    r = client.post("/api/v1/surveys", json=survey_body(**extra), headers=admin)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def campaign_body(survey_id: int, **extra: Any) -> dict[str, Any]:
    now = utcnow()
    body: dict[str, Any] = {
        "survey_id": survey_id,
        "title": "2026年度评议",
        "title_en": "2026 review",
        "opens_at": (now - timedelta(days=1)).isoformat(),
        "closes_at": (now + timedelta(days=30)).isoformat(),
        "unit_codes": ["dept-civil", "dept-hrss", "win-social"],
        "access": "open",
        "profile_fields": ["area", "age_band", "sex"],
    }
    body.update(extra)
    return body


def create_campaign(client: TestClient, admin: dict[str, str], survey_id: int, **extra: Any) -> int:
    r = client.post("/api/v1/campaigns", json=campaign_body(survey_id, **extra), headers=admin)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def answers(value: int = 4, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {key: value for key, _, _ in DIMENSIONS}
    out.update(extra)
    return out


def response_body(unit_code: str = "dept-civil", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "unit_code": unit_code,
        "answers": answers(4, attitude=5, recommend=9, channel="hall"),
        "comment": "窗口工作人员态度很好，耐心解答",
        "submission_id": str(uuid.uuid4()),
        "area_code": "comm-a1",
        "profile": {"age_band": "30-39", "sex": "female"},
    }
    body.update(extra)
    return body
