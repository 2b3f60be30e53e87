"""Weight trimming and the weighting's warnings, against a per-respondent recomputation.

The reference rakes respondent by respondent (numpy), caps every weight at ``TRIM_CAP`` times
the mean, rakes again, and so on; then averages within disclosure blocks as the product does
(``oracle.block_mean_weights``) and recomputes the weighted means, effective sizes and
warnings. The campaign of the warnings is the issue's case: a small age band (a few
respondents, still at least k so that it is not pooled) with a large population share.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text, update
from sqlmodel import Session, col

from analytics import indicators
from analytics.indicators.weighting import CAP_TOL, N_EFF_WARN_SHARE, TRIM_CAP, TRIM_ROUNDS
from surveys.forms.models import Campaign
from surveys.forms.stats import rebuild
from tests.analytics import oracle
from tests.factories import headers_for
from tests.synthetic import Synthetic

K = 5


def trim_rake_per_respondent(
    people: list[dict[str, Any]], margins: dict[str, dict[str, float]]
) -> tuple[dict[int, float], bool, bool]:
    """Trimmed raking weights per respondent, whether the cap was needed, and whether the
    margins are met (every respondent here has every attribute)."""
    fields = [f for f in ("area", "age_band", "sex") if margins.get(f)]
    cats = {f: np.array([p[f] for p in people], dtype=object) for f in fields}
    n = len(people)

    def rake(w: np.ndarray) -> np.ndarray:
        for _ in range(5000):
            worst = 0.0
            for f in fields:
                for cat, share in margins[f].items():
                    sel = cats[f] == cat
                    ratio = share * n / w[sel].sum()
                    worst = max(worst, abs(ratio - 1))
                    w[sel] *= ratio
            if worst < 1e-13:
                break
        return w

    w = rake(np.ones(n))
    trimmed = False
    excess = [np.inf]
    for r in range(TRIM_ROUNDS + 1):
        excess.append(w.max() / TRIM_CAP - 1)
        if excess[-1] <= CAP_TOL:
            break
        trimmed = True
        if r == TRIM_ROUNDS or excess[-1] > 0.99 * excess[-2]:
            break
        w = rake(np.minimum(w, TRIM_CAP))
    w = np.minimum(w, TRIM_CAP)
    met = all(
        abs(w[cats[f] == cat].sum() / w.sum() - share) < 1e-5
        for f in fields
        for cat, share in margins[f].items()
    )
    return {p["rid"]: float(x) for p, x in zip(people, w, strict=True)}, trimmed, met


def set_margins(app: FastAPI, syn: Synthetic, margins: dict[str, dict[str, float]]) -> None:
    with app.state.engine.begin() as conn:
        conn.execute(
            update(Campaign).where(col(Campaign.id) == syn.campaign_id).values(margins=margins)
        )


def check_against_reference(
    app: FastAPI, session: Session, syn: Synthetic, margins: dict[str, dict[str, float]]
) -> dict[str, Any]:
    """The API's weighted means, effective sizes and weighting summary against the reference;
    returns the reference's findings."""
    people = oracle.respondents(app.state.engine, syn.campaign_id)
    weights, trimmed, met = trim_rake_per_respondent(people, margins)
    assert max(weights.values()) <= TRIM_CAP * (1 + 1e-9)
    used = oracle.block_mean_weights(people, weights, k=K)
    w = np.array(list(used.values()))
    n_eff = float(w.sum() ** 2 / (w * w).sum())
    res = indicators.compute(
        session, campaign_id=syn.campaign_id, by="unit,dimension", weighted=True
    )
    rep = res.method["weighting"]
    assert rep["n"] == len(people)
    assert rep["n_eff"] == pytest.approx(n_eff, rel=1e-6)
    assert rep["weight_max"] == pytest.approx(w.max(), rel=1e-6)
    assert rep["weight_min"] == pytest.approx(w.min(), rel=1e-6)
    assert rep["trimming"]["cap"] == TRIM_CAP
    assert rep["trimming"]["applied"] is trimmed
    assert rep["converged"] is met
    answers = oracle.raw_answers(app.state.engine, syn.campaign_id)
    ref = oracle.group(answers, ["unit", "dimension"])
    checked = 0
    for row in res.rows:
        if row["suppressed"]:
            continue
        wref = oracle.weighted_stats(ref[(row["unit_code"], row["dimension"])], used)
        assert row["mean"] == pytest.approx(wref["mean"], abs=1e-6)
        assert row["n_eff"] == pytest.approx(wref["n_eff"], abs=0.01)
        checked += 1
    assert checked
    codes = {x["code"] for x in rep["warnings"]}
    expected = {
        "n_eff_low": n_eff < N_EFF_WARN_SHARE * len(people),
        "not_converged": not met,
        "trimmed": trimmed,
    }
    assert codes == {c for c, on in expected.items() if on}
    for x in rep["warnings"]:
        assert set(x["text"]) == {"zh-CN", "en"} and all(x["text"].values())
    return {"n_eff": n_eff, "n": len(people), "trimmed": trimmed, "met": met}


def test_trimmed_raking_meets_the_margins_when_it_can(
    app: FastAPI, session: Session, synthetic: Callable[..., Synthetic]
) -> None:
    syn = synthetic(n=600, units=4, areas=3, seed=11, comment_share=0.0)
    # A tenth of the respondents are 18-29, two fifths of the population: young men from
    # some areas get raked weights above the cap, young women can carry the rest.
    margins = {
        "area": {c: 1 / 3 for c in syn.area_codes},
        "age_band": {"18-29": 0.4, "30-44": 0.2, "45-59": 0.2, "60+": 0.2},
        "sex": {"female": 0.5, "male": 0.5},
    }
    set_margins(app, syn, margins)
    found = check_against_reference(app, session, syn, margins)
    assert found["trimmed"] and found["met"]
    rep = indicators.compute(session, campaign_id=syn.campaign_id, by="", weighted=True).method[
        "weighting"
    ]
    assert rep["trimming"]["stable"] and rep["trimming"]["rounds"] >= 1
    assert "18-29" in rep["trimming"]["categories"]["age_band"]


def test_untrimmed_weights_are_plain_raking(
    app: FastAPI, session: Session, synthetic: Callable[..., Synthetic]
) -> None:
    syn = synthetic(n=600, units=4, areas=3, seed=12, comment_share=0.0)
    margins = {
        "area": {c: 1 / 3 for c in syn.area_codes},
        "age_band": {"18-29": 0.2, "30-44": 0.3, "45-59": 0.3, "60+": 0.2},
        "sex": {"female": 0.5, "male": 0.5},
    }
    found = check_against_reference(app, session, syn, margins)
    assert not found["trimmed"] and found["met"]
    rep = indicators.compute(session, campaign_id=syn.campaign_id, by="", weighted=True).method[
        "weighting"
    ]
    assert rep["warnings"] == [] and rep["trimming"]["rounds"] == 0


@pytest.fixture
def skewed(app: FastAPI, synthetic: Callable[..., Synthetic]) -> Synthetic:
    """600 respondents of whom 6 are 18-29 (a quarter of the population) and 50 are men (half
    of it), in few and large disclosure blocks (two units, one area, one month)."""
    syn = synthetic(n=600, units=2, areas=1, days=28, seed=13, comment_share=0.0, flagged_share=0.0)
    with app.state.engine.begin() as conn:
        ids = [
            r[0]
            for r in conn.execute(
                text("SELECT id FROM survey_response WHERE campaign_id = :c ORDER BY id"),
                {"c": syn.campaign_id},
            )
        ]
        young, rest = ids[:6], ids[6:]
        conn.execute(
            text("UPDATE survey_response SET age_band = '30-44' WHERE campaign_id = :c"),
            {"c": syn.campaign_id},
        )
        conn.execute(
            text("UPDATE survey_response SET age_band = '18-29' WHERE id = :i"),
            [{"i": i} for i in young],
        )
        bands = ["30-44", "45-59", "60+"]
        conn.execute(
            text("UPDATE survey_response SET age_band = :b, sex = :s WHERE id = :i"),
            [
                {"i": i, "b": bands[j % 3], "s": "male" if (j // 3) % 12 == 0 else "female"}
                for j, i in enumerate(rest)
            ],
        )
        rebuild(conn, campaign_id=syn.campaign_id)
    set_margins(
        app,
        syn,
        {
            "area": {c: 1.0 for c in syn.area_codes},
            "age_band": {"18-29": 0.25, "30-44": 0.25, "45-59": 0.25, "60+": 0.25},
            "sex": {"female": 0.5, "male": 0.5},
        },
    )
    return syn


def test_warnings_in_the_api_the_dashboard_and_the_report(
    app: FastAPI, client: TestClient, session: Session, skewed: Synthetic
) -> None:
    session.expire_all()
    campaign = session.get(Campaign, skewed.campaign_id)
    assert campaign is not None and campaign.margins
    margins: dict[str, dict[str, float]] = dict(campaign.margins)
    found = check_against_reference(app, session, skewed, margins)
    assert found["trimmed"] and not found["met"]
    assert found["n_eff"] < found["n"] / 2
    codes = ["n_eff_low", "not_converged", "trimmed"]
    h = headers_for(client, session, "evaluator")
    cid = skewed.campaign_id
    # API: every weighted view carries the same campaign-wide warnings.
    for path, params in (
        (f"/api/v1/campaigns/{cid}/indicators", {"by": "unit,dimension"}),
        (f"/api/v1/campaigns/{cid}/ranking", {}),
    ):
        r = client.get(path, params={**params, "weighted": "true"}, headers=h)
        assert r.status_code == 200, r.text
        rep = r.json()["method"]["weighting"]
        assert [x["code"] for x in rep["warnings"]] == codes
        assert rep["n_eff"] == pytest.approx(found["n_eff"], rel=1e-6)
    plain = client.get(f"/api/v1/campaigns/{cid}/indicators", headers=h).json()["method"]
    assert not plain.get("weighting")
    # Dashboard bundle: the headline carries them in the page's language.
    for lang in ("zh-CN", "en"):
        r = client.get(
            "/api/v1/dashboard",
            params={"campaign_id": cid, "weighted": "true", "lang": lang, "names": "responses"},
            headers=h,
        )
        assert r.status_code == 200, r.text
        warn = r.json()["headline"]["warnings"]
        assert [x["code"] for x in warn] == codes
        assert all(x["text"] and ("{" not in x["text"]) for x in warn)
        assert (lang == "en") == all(x["text"].isascii() for x in warn)
    r = client.get(
        "/api/v1/dashboard", params={"campaign_id": cid, "names": "responses"}, headers=h
    )
    assert r.json()["headline"]["warnings"] == []
    # Report: a visible note above the charts, in the report's language.
    r = client.get(f"/api/v1/reports/{cid}", params={"weighted": "true", "lang": "en"}, headers=h)
    assert r.status_code == 200, r.text
    html = r.text
    box = re.search(r'<div class="warnings" id="weighting-warnings".*?</div>', html, re.S)
    assert box is not None
    assert re.findall(r'data-code="([a-z_]+)"', box.group(0)) == codes
    assert "effective sample size" in box.group(0)
    assert html.index('id="weighting-warnings"') < html.index('id="sec-')
    r = client.get(f"/api/v1/reports/{cid}", params={"lang": "en"}, headers=h)
    assert 'id="weighting-warnings"' not in r.text
    # The method appendix of the report carries the machine-readable codes too.
    assert json.dumps("not_converged") in html


def test_dashboard_page_has_the_note_above_the_charts(
    client: TestClient, session: Session, skewed: Synthetic
) -> None:
    h = headers_for(client, session, "evaluator")
    r = client.get(
        "/dashboard", params={"campaign_id": skewed.campaign_id, "weighted": "true"}, headers=h
    )
    assert r.status_code == 200, r.text
    page = r.text
    assert 'id="dash-warnings"' in page
    assert page.index('id="dash-warnings"') < page.index('id="chart-ranking"')
