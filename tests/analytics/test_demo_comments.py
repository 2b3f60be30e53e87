"""Never empty by accident: the demo's default dashboard view shows sentiment and themes
(issue 19), and a comment chart that has nothing to draw says why in words."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from sqlmodel import Session

from analytics.comments import job
from analytics.comments.scoring import campaigns_with_comments, pending_count
from analytics.dashboard.bundle import bundle_json
from analytics.dashboard.service import Dashboard
from analytics.figures import label
from frontend.pages.dashboard import _main_campaign
from service.demo import build_demo
from surveys.forms.models import Campaign
from tests.synthetic import Synthetic

EMPTY_WORDS = {label(lang, "no_data") for lang in ("zh-CN", "en")}


def _texts(fig: dict[str, Any]) -> list[str]:
    return [a.get("text", "") for a in fig.get("layout", {}).get("annotations", [])]


def test_demo_default_view_has_sentiment_and_themes(app: FastAPI) -> None:
    engine = app.state.engine
    build_demo(engine, responses=3000, seed=7)  # a small demo: the same steps as `minyi demo`
    with Session(engine) as s:
        # Comments were scored when the demo was built, not left to the background job.
        assert all(pending_count(s, campaign_id=c) == 0 for c in campaigns_with_comments(s))
        cid = _main_campaign(s)
        dash = Dashboard(s, campaign=s.get(Campaign, cid), min_group_size=5)
        bundle = json.loads(bundle_json(dash, ["sentiment", "themes", "aspects"]))
    figs = bundle["figures"]
    for name in ("sentiment", "themes"):
        assert figs[name]["data"], f"{name} is empty"
        assert not EMPTY_WORDS & set(_texts(figs[name]))
    # Sentiment shows some unit's shares, not only hidden rows; themes show negative mentions.
    assert any(not (t.get("meta") or {}).get("suppressed") for t in figs["sentiment"]["data"])
    assert sum(x or 0 for x in figs["themes"]["data"][0]["x"]) > 0
    # The model tags the dimensions a comment speaks of: the aspect panel draws shares too.
    assert figs["aspects"]["data"] and figs["aspects"]["data"][0]["x"]


def test_empty_comment_charts_say_why(
    app: FastAPI, session: Session, synthetic: Callable[..., Synthetic]
) -> None:
    syn = synthetic(n=60, units=2, areas=1, seed=2, comment_share=0.5, flagged_share=0.0)
    dash = Dashboard(session, campaign=session.get(Campaign, syn.campaign_id))
    # Not scored yet: the charts say the comments are being scored, not "no data".
    fig = dash.figure("sentiment")
    assert any("正在计算" in t for t in [a.text for a in fig.layout.annotations])
    aspects = dash.figure("aspects")
    assert all(a.text not in EMPTY_WORDS for a in aspects.layout.annotations)
    # Groups too small for k: said in words, with k.
    job.score_all(app.state.engine)
    big = Dashboard(session, campaign=session.get(Campaign, syn.campaign_id), min_group_size=500)
    texts = [a.text for a in big.figure("sentiment").layout.annotations]
    assert any("500" in t for t in texts), texts
