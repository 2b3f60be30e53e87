"""Complaints per dimension: shares and Wilson intervals recomputed independently, suppression
under k, the month-to-month alert identical to the indicator trends' rule, and the API."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import insert, select
from sqlmodel import Session, col
from statsmodels.stats.proportion import proportion_confint

from analytics.comments.aspect_shares import alert_changes, aspect_shares
from analytics.comments.models import CommentSentiment
from analytics.indicators.statistics import benjamini_hochberg, change_test, moments
from surveys.forms.models import SurveyResponse
from surveys.units.models import Unit
from tests.factories import headers_for
from tests.synthetic import Synthetic

ASPECTS = ["attitude", "efficiency", "transparency"]


def _tag(session: Session, syn: Synthetic, seed: int = 3) -> dict[int, tuple[list[str], str]]:
    """Store a sentiment with aspects for every comment (as the scoring path would): efficiency
    comments mostly negative, attitude ones mostly positive; "integrity" on three only."""
    rng = random.Random(seed)
    ids = session.execute(
        select(col(SurveyResponse.id)).where(
            col(SurveyResponse.campaign_id) == syn.campaign_id,
            col(SurveyResponse.comment).is_not(None),
            col(SurveyResponse.comment) != "",
        )
    ).scalars()
    truth: dict[int, tuple[list[str], str]] = {}
    rows = []
    for i, rid in enumerate(sorted(ids)):
        aspects = [a for a in ASPECTS if rng.random() < 0.5] + (["integrity"] if i < 3 else [])
        neg = 0.7 if "efficiency" in aspects else 0.2
        label = "negative" if rng.random() < neg else rng.choice(["positive", "neutral"])
        truth[int(rid)] = (aspects, label)
        rows.append(
            {
                "response_id": rid,
                "label": label,
                "score": 0.5,
                "model": "test",
                "aspects": aspects if i % 10 else None,  # some untagged
            }
        )
    session.execute(insert(CommentSentiment), rows)
    session.commit()
    return {r: v for i, (r, v) in enumerate(sorted(truth.items())) if i % 10}


def test_shares_and_intervals_recomputed_independently(
    app: FastAPI, session: Session, synthetic: Callable[..., Synthetic]
) -> None:
    syn = synthetic(n=300, units=2, areas=1, seed=4, comment_share=0.8, flagged_share=0.0)
    truth = _tag(session, syn)
    res = aspect_shares(session, campaign_id=syn.campaign_id, min_group_size=5, by_unit=True)
    got = {(r["aspect"], r["unit_code"]): r for r in res["rows"]}
    units = dict(session.execute(select(col(Unit.id), col(Unit.code))).all())
    info = dict(
        session.execute(
            select(col(SurveyResponse.id), col(SurveyResponse.unit_id)).where(
                col(SurveyResponse.id).in_(list(truth))
            )
        ).all()
    )
    expect: dict[tuple[str, str], list[str]] = defaultdict(list)
    for rid, (aspects, label) in truth.items():
        for a in aspects:
            expect[(a, units[info[rid]])].append(label)
    assert set(got) == set(expect)
    for key, labels in expect.items():
        row = got[key]
        if len(labels) < 5:
            assert row["suppressed"] and row["comments"] is None
            continue
        neg = labels.count("negative")
        lo, hi = proportion_confint(neg, len(labels), alpha=0.05, method="wilson")
        assert row["comments"] == len(labels) and row["negative"] == neg
        assert row["negative_share"] == pytest.approx(neg / len(labels), abs=1e-6)
        assert row["ci_low"] == pytest.approx(lo, abs=1e-5)
        assert row["ci_high"] == pytest.approx(hi, abs=1e-5)
    # The rare dimension is suppressed, the common ones shown; untagged comments counted.
    assert all(r["suppressed"] for r in res["rows"] if r["aspect"] == "integrity")
    assert res["untagged"] > 0
    whole = aspect_shares(session, campaign_id=syn.campaign_id, min_group_size=5)
    eff = next(r for r in whole["rows"] if r["aspect"] == "efficiency")
    assert eff["comments"] == sum(len(v) for (a, _u), v in expect.items() if a == "efficiency")
    # Monthly rows add up to the whole; complaint themes come from negative comments.
    months = [m for m in whole["months"] if m["aspect"] == "efficiency"]
    assert len(months) == 3 and sum(m["comments"] for m in months) == eff["comments"]
    assert whole["themes"]["efficiency"] and all(
        t["negative"] > 0 for t in whole["themes"]["efficiency"]
    )
    # Everything suppressed under a k larger than any group.
    big = aspect_shares(session, campaign_id=syn.campaign_id, min_group_size=400)
    assert all(r["suppressed"] for r in big["rows"] + big["months"])
    assert big["themes"] == {} and all(c["suppressed"] for c in big["changes"])


def test_alert_is_the_indicator_trends_rule_on_the_same_numbers() -> None:
    months: list[dict[str, Any]] = []
    data = {"2026-01": (40, 8), "2026-02": (35, 21), "2026-03": (30, 20), "2026-04": (6, 6)}
    series = {"2026-04": (7, 0)}
    for m, (n, neg) in data.items():
        months.append({"aspect": "efficiency", "month": m, "comments": n, "negative": neg})
    for m, (n, neg) in series.items():
        months.append({"aspect": "attitude", "month": "2026-03", "comments": 9, "negative": 9})
        months.append({"aspect": "attitude", "month": m, "comments": n, "negative": neg})
    for r in months:
        r["suppressed"] = False
    changes = alert_changes(months, ["aspect"], alpha=0.05)
    # The indicators' path: each month's 0/1 answers through ``moments`` (the SE trends use),
    # df + 1 = n, ``change_test``, Benjamini-Hochberg over all changes.
    stats = {}
    for r in months:
        n, neg = int(r["comments"]), int(r["negative"])
        y = np.array([1.0] * neg + [0.0] * (n - neg))
        one = np.ones_like(y)
        mean, _sd, se = moments(np.zeros(len(y), int), 1, one, one, one, y)
        stats[(r["aspect"], r["month"])] = (mean[0], se[0], len(y))
    pairs = [(("attitude", "2026-03"), ("attitude", "2026-04"))] + [
        (("efficiency", a), ("efficiency", b))
        for a, b in zip(sorted(data), sorted(data)[1:], strict=False)
    ]
    a = np.array([stats[p[0]] for p in pairs])
    b = np.array([stats[p[1]] for p in pairs])
    _t, _df, p = change_test(
        b[:, 0] - a[:, 0], a[:, 1], b[:, 1], a[:, 2], b[:, 2], a[:, 2], b[:, 2]
    )
    q = benjamini_hochberg(p)
    assert [c["p_value"] for c in changes] == pytest.approx(p.tolist(), abs=1e-8)
    assert [c["q_value"] for c in changes] == pytest.approx(q.tolist(), abs=1e-8)
    assert [c["alert"] for c in changes] == [bool(x < 0.05) for x in q]
    assert changes[0]["alert"] and changes[0]["direction"] == "down"  # 9/9 -> 0/7: permutation
    assert any(c["alert"] and c["direction"] == "up" for c in changes[1:])
    # A suppressed month is not tested.
    months[0]["suppressed"] = True
    assert alert_changes(months, ["aspect"])[1]["suppressed"] is True


def test_aspects_api(
    app: FastAPI, client: TestClient, session: Session, synthetic: Callable[..., Synthetic]
) -> None:
    syn = synthetic(n=200, units=2, areas=1, seed=5, comment_share=0.8, flagged_share=0.0)
    _tag(session, syn, seed=5)
    url = f"/api/v1/campaigns/{syn.campaign_id}/comments/aspects"
    assert client.get(url).status_code == 401
    h = headers_for(client, session, "evaluator")
    r = client.get(url, headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert {x["aspect"] for x in body["rows"] if not x["suppressed"]} >= set(ASPECTS)
    assert body["method"]["min_group_size"] == app.state.settings.min_group_size
    by_unit = client.get(url, params={"by": "unit", "unit_code": syn.unit_codes[0]}, headers=h)
    assert by_unit.status_code == 200
    assert {x["unit_code"] for x in by_unit.json()["rows"]} == {syn.unit_codes[0]}
    bad = client.get(url, params={"unit_code": "no-such-unit"}, headers=h)
    assert bad.status_code == 422 and "unit_code" in bad.text
    assert client.get(url, params={"by": "month"}, headers=h).status_code == 422
    assert client.get("/api/v1/campaigns/999999/comments/aspects", headers=h).status_code == 404
