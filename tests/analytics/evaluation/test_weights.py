"""The weights a score used, said beside the configured ones: pooled and absent groups."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from analytics.evaluation.config import parse
from analytics.evaluation.results import subject_result
from analytics.evaluation.weights import notes, percent
from service.models import Role
from tests.analytics.evaluation import world
from tests.analytics.evaluation.test_results import config, overall, rows
from tests.factories import headers_for

CFG = parse(config(items=[]))
LABELS = {g.key: (g.label, g.label_en, g.weight) for g in CFG.groups}


def sheets(members: int, staff: int) -> dict[str, list[dict[str, str]]]:
    """Team members all 优秀, staff and people served all 基本称职 (40 served)."""
    return {
        "members": overall(*["excellent"] * members),
        "staff": overall(*["basic"] * staff),
        "served": overall(*["basic"] * 40),
    }


def test_pooling_moves_the_score_and_the_note_says_so() -> None:
    """4 members 优秀, 40 staff and 40 served 基本称职: 72.0 with the members' own 30%,
    62.2 pooled (k = 5), the members counting 4 of 44 in a pool weighted 60%."""
    alone = subject_result(rows(sheets(4, 40)), CFG, subject_id=1, k=1, seed=1, draws=200)
    pooled = subject_result(rows(sheets(4, 40)), CFG, subject_id=1, k=5, seed=1, draws=200)
    points = np.array([100.0] * 4 + [60.0] * 40)
    assert alone.score == pytest.approx(np.average([100.0, 60.0, 60.0], weights=[30, 30, 40]))
    assert alone.score == pytest.approx(72.0)
    assert pooled.score == pytest.approx(np.average([points.mean(), 60.0], weights=[60, 40]))
    assert round(pooled.score or 0, 1) == 62.2
    groups = [(g.groups, g.weight_share) for g in pooled.groups]
    assert groups == [(("members", "staff"), pytest.approx(0.6)), (("served",), 0.4)]
    found = notes(groups, pooled.absent, LABELS, 5)
    assert [n["kind"] for n in found] == ["pooled"]
    note = found[0]
    assert note["configured_share"] == pytest.approx(0.6)
    assert note["effective_share"] == pytest.approx(0.6)
    assert "“班子成员”、“干部职工”合并为一组公布" in note["text"]
    assert "班子成员 30% + 干部职工 30% = 60%" in note["text"]
    assert "实际权重为 60%" in note["text"] and "同等计入" in note["text"]
    assert "Team members 30% + Staff 30% = 60%" in note["text_en"]
    assert "weighs 60% in the weighted score" in note["text_en"]
    # Nothing in the note depends on the pool's sizes: 2 members and 40 staff say the same.
    other = subject_result(rows(sheets(2, 40)), CFG, subject_id=1, k=5, seed=1, draws=200)
    assert notes([(g.groups, g.weight_share) for g in other.groups], (), LABELS, 5) == found


def test_absent_and_unweighted_groups() -> None:
    found = notes([(("members",), 0.5), (("staff",), 0.5)], ("served",), LABELS, 5)
    assert found == [
        {
            "kind": "absent",
            "groups": ["served"],
            "configured_share": pytest.approx(0.4),
            "effective_share": 0.0,
            "text": "无人参评的群体：“服务对象”（配置权重 40%）。其权重已按比例分给有参评人的"
            "群体，各群体在加权得分中的实际权重见“实际权重”列。",
            "text_en": found[0]["text_en"],
        }
    ]
    assert "No rater of People served" in found[0]["text_en"]
    # A pool of groups the scheme does not weigh, and an absent unweighted group: no note.
    labels = dict(LABELS, extra=("外部", "Outside", 0.0), other=("其他", "Other", 0.0))
    assert notes([(("extra", "other"), 0.0)], ("extra",), labels, 5) == []
    assert percent(1 / 3) == "33.3%" and percent(0.3) == "30%"


def test_api_page_and_report_say_the_absent_weight(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    """The absent group's weight is named in the API, and the report says it in both
    languages, in the API's words."""
    w = world.build(app.state.engine, sizes={"members": 5, "staff": 8, "served": 0})
    org = headers_for(client, session, Role.organisation, "orgdept")
    base = f"/api/v1/campaigns/{w.campaign_id}/evaluation"
    subject = client.get(base, headers=org).json()["subjects"][0]
    assert subject["absent"] == ["served"]
    [note] = subject["weight_notes"]
    assert note["kind"] == "absent" and note["configured_share"] == pytest.approx(0.4)
    assert [g["weight_share"] for g in subject["groups"]] == [pytest.approx(0.5)] * 2
    report = f"{base}/subjects/{subject['subject_id']}/report"
    zh = client.get(report, headers=org).text
    en = client.get(report, params={"lang": "en"}, headers=org).text
    assert note["text"] in zh and note["text_en"] in en
    assert "（配置权重 40%）" in zh and "configured weight 40%" in en


def test_api_says_the_pooled_weight(app: FastAPI, client: TestClient, session: Session) -> None:
    w = world.build(app.state.engine)  # members 3 raters, k = 5: pooled with staff
    org = headers_for(client, session, Role.organisation, "orgdept")
    base = f"/api/v1/campaigns/{w.campaign_id}/evaluation"
    subject = client.get(base, headers=org).json()["subjects"][0]
    [note] = subject["weight_notes"]
    assert note["kind"] == "pooled" and note["groups"] == ["members", "staff"]
    pool = subject["groups"][0]
    assert note["effective_share"] == pool["weight_share"] == pytest.approx(0.6)
    report = f"{base}/subjects/{subject['subject_id']}/report"
    en = client.get(report, params={"lang": "en"}, headers=org).text
    assert "Team members 30% + Staff 30% = 60%" in en and "Weight used" in en
