"""Comment sentiment (offline, measured), keywords, themes and the comment list."""

from __future__ import annotations

import csv
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, event, func, insert, select
from sqlalchemy import text as sql_text
from sqlmodel import Session

from analytics.comments import job, scoring, search, sentiment, themes
from analytics.comments.models import CommentScanMark, CommentSentiment
from surveys.forms.models import SurveyResponse
from surveys.forms.stats import record_batch
from tests.conftest import SHARED
from tests.factories import headers_for
from tests.synthetic import Synthetic


def test_sentiment_never_touches_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_a: object, **_k: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(sentiment, "_model", None)  # build it from scratch under the guard
    out = sentiment.classify(
        [
            "街道办的同志很负责，问题当天就解决了",
            "打了五次12345都没人管，太失望了",
            "The officer was rude and ignored my complaint.",
            "Very helpful staff, thank you!",
            "",
        ]
    )
    assert [o["label"] for o in out] == ["positive", "negative", "negative", "positive", "neutral"]
    assert all(0.0 <= o["score"] <= 1.0 for o in out)


WAIMAI = SHARED / "data" / "zh_sentiment" / "waimai_10k.csv"


@pytest.mark.skipif(not WAIMAI.exists(), reason="evaluation set not present")
def test_sentiment_accuracy_on_a_held_out_sample() -> None:
    with WAIMAI.open(encoding="utf-8") as fh:
        rows = list(csv.reader(fh))[1:]
    rng = np.random.default_rng(123)
    idx = rng.choice(len(rows), 200, replace=False)
    y = np.array([int(rows[i][0]) for i in idx])
    s = sentiment.sentiment_model().score([rows[i][1] for i in idx])
    pred = (s > 0.5).astype(int)
    acc = (pred == y).mean()
    bal = ((pred[y == 1] == 1).mean() + (pred[y == 0] == 0).mean()) / 2
    # The full 2,000-row measurement is in bench/sentiment.py; this guards against regressions.
    assert acc >= 0.8 and bal >= 0.78


def test_keywords_use_the_domain_dictionary() -> None:
    words = [w for w, _ in themes.keywords("街道办推来推去，打了三次12345，社保手续还是没办好")]
    assert "街道办" in words and "12345" in words and "社保" in words
    assert "还是" not in words


def test_themes_most_negative_first_and_comment_search(
    app: FastAPI, session: Session, synthetic: Callable[..., Synthetic]
) -> None:
    syn = synthetic(n=200, units=2, areas=2, seed=6, comment_share=0.6, flagged_share=0.0)
    assert job.score_all(app.state.engine) > 0
    res = themes.themes(session, campaign_id=syn.campaign_id, by="unit")
    assert res["pending"] == 0
    assert len(res["groups"]) == 2
    for g in res["groups"]:
        shares = g["sentiment"]
        assert sum(shares[k]["count"] for k in sentiment.LABELS) == g["comments"]
        lows = [t["negative_ci_low"] for t in g["themes"]]
        assert lows == sorted(lows, reverse=True)
        assert g["themes"]
        for k in sentiment.LABELS:
            if shares[k]["count"]:
                assert shares[k]["ci_low"] <= shares[k]["share"] <= shares[k]["ci_high"]
    by_area = themes.themes(session, campaign_id=syn.campaign_id, by="area")
    assert {g["area_code"] for g in by_area["groups"]} == set(syn.area_codes)

    page = search.list_comments(session, campaign_id=syn.campaign_id, q="12345", limit=200)
    assert page.total > 0 and all("12345" in r["text"] for r in page.rows)
    neg = search.list_comments(
        session, campaign_id=syn.campaign_id, sentiment="negative", limit=200
    )
    pos = search.list_comments(
        session, campaign_id=syn.campaign_id, sentiment="positive", limit=200
    )
    assert neg.total and pos.total
    assert all(r["sentiment"] == "negative" for r in neg.rows)
    eng = search.list_comments(session, campaign_id=syn.campaign_id, q="STAFF")
    assert all("staff" in r["text"].lower() for r in eng.rows)
    # Wildcards in the search are literal.
    assert search.list_comments(session, campaign_id=syn.campaign_id, q="%").total == 0
    one = search.list_comments(
        session, campaign_id=syn.campaign_id, unit_code=syn.unit_codes[0], limit=1, offset=1
    )
    assert len(one.rows) == 1 and one.rows[0]["unit_code"] == syn.unit_codes[0]
    assert one.rows[0]["month"].startswith("2026-")
    # Newest first; uncounted (the dashboard's list) gives the same page and whether more match.
    page = search.list_comments(session, campaign_id=syn.campaign_id, limit=5)
    quick = search.list_comments(session, campaign_id=syn.campaign_id, limit=5, count=False)
    assert quick.rows == page.rows and quick.total is None
    assert page.more and quick.more and page.total is not None and page.total > 5
    everything = search.list_comments(session, campaign_id=syn.campaign_id, limit=200)
    assert everything.total == len(everything.rows) and not everything.more
    assert page.rows == everything.rows[:5]


def test_sentiment_on_public_service_comments() -> None:
    path = __import__("pathlib").Path(__file__).with_name("data") / "service_comments.tsv"
    rows = [
        line.split("\t", 1)
        for line in path.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    y = np.array([int(a) for a, _ in rows])
    s = sentiment.sentiment_model().score([b for _, b in rows])
    assert ((s > 0.5).astype(int) == y).mean() >= 0.9


# --- scoring reads only the responses past the campaign's mark; views never score ----------


def _respond(engine: Engine, syn: Synthetic, rid: int, comment: str | None) -> None:
    """Store one response with a chosen id, statistics included (as every writer does)."""
    row = {
        "id": rid,
        "campaign_id": syn.campaign_id,
        "unit_id": syn.unit_ids[0],
        "area_unit_id": syn.area_ids[0],
        "age_band": None,
        "sex": None,
        "submitted_hour": datetime(2026, 3, 1, 9, tzinfo=UTC),
        "comment": comment,
        "source": "web",
        "flags": "",
        "flagged": False,
        "submission_key": f"mark-{syn.campaign_id}-{rid}",
    }
    with engine.begin() as conn:
        conn.execute(insert(SurveyResponse), [row])
        record_batch(conn, [{**row, "response_id": rid, "answers": {}}])
        if conn.dialect.name == "postgresql":
            conn.execute(
                sql_text(
                    "SELECT setval(pg_get_serial_sequence('survey_response', 'id'), "
                    "(SELECT MAX(id) FROM survey_response))"
                )
            )


def _mark_row(session: Session, campaign_id: int) -> tuple[int, int] | None:
    m = CommentScanMark
    row = session.execute(
        select(m.response_id, m.responses).where(m.campaign_id == campaign_id)
    ).first()
    return None if row is None else (int(row[0]), int(row[1]))


def _last_id(session: Session, campaign_id: int) -> int:
    r = SurveyResponse
    return int(session.execute(select(func.max(r.id)).where(r.campaign_id == campaign_id)).one()[0])


def _stored_scores(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(CommentSentiment)).scalar_one())


def _new_negative_comment_is_found(
    app: FastAPI, session: Session, syn: Synthetic, rid: int, words: str, q: str
) -> None:
    """Store a negative comment as response ``rid``: a search lists it as pending (reading
    scores nothing); after the job's next step it is scored and found by its sentiment."""
    _respond(app.state.engine, syn, rid, words)
    before = (_stored_scores(session), _mark_row(session, syn.campaign_id))
    page = search.list_comments(session, campaign_id=syn.campaign_id, q=q)
    session.rollback()
    assert page.pending == 1
    assert [(r["text"], r["sentiment"]) for r in page.rows] == [(words, None)]
    assert (_stored_scores(session), _mark_row(session, syn.campaign_id)) == before
    assert job.score_step(app.state.engine) == 1
    page = search.list_comments(session, campaign_id=syn.campaign_id, q=q)
    session.rollback()
    assert page.pending == 0
    assert [(r["text"], r["sentiment"]) for r in page.rows] == [(words, "negative")]


def test_comment_added_later_is_scored_by_the_next_step_and_then_shown(
    app: FastAPI, session: Session, synthetic: Callable[..., Synthetic]
) -> None:
    syn = synthetic(n=120, units=2, areas=1, seed=3, comment_share=0.5, flagged_share=0.0)
    scored = job.score_all(app.state.engine)
    first = search.list_comments(session, campaign_id=syn.campaign_id, limit=500)
    session.rollback()
    assert first.pending == 0 and scored == first.total > 0
    last = _last_id(session, syn.campaign_id)
    assert _mark_row(session, syn.campaign_id) == (last, 120)

    words = "街道办窗口人员推来推去，跑了三次还没办好，太失望了"
    _new_negative_comment_is_found(app, session, syn, last + 1, words, q="推来推去，跑了三次")
    assert _mark_row(session, syn.campaign_id) == (last + 1, 121)
    # A response without a comment moves the mark too, and nothing is scored for it.
    _respond(app.state.engine, syn, last + 2, None)
    assert job.score_step(app.state.engine) == 0
    res = themes.themes(session, campaign_id=syn.campaign_id)
    session.rollback()
    assert res["pending"] == 0
    assert _mark_row(session, syn.campaign_id) == (last + 2, 122)


def test_a_second_pass_does_not_read_the_responses_before_the_mark(
    app: FastAPI, session: Session, synthetic: Callable[..., Synthetic]
) -> None:
    syn = synthetic(n=150, units=2, areas=1, seed=4, comment_share=0.5, flagged_share=0.0)
    job.score_all(app.state.engine)
    mark = _mark_row(session, syn.campaign_id)
    assert mark is not None
    # Take one old score away behind the scorer's back: a pass that re-read the old responses
    # would find it pending and score it again; past the mark there is nothing to do.
    old = session.execute(
        select(CommentSentiment.response_id).order_by(CommentSentiment.response_id).limit(1)
    ).scalar_one()
    session.execute(delete(CommentSentiment).where(CommentSentiment.response_id == old))
    session.commit()
    statements: list[tuple[str, Any]] = []

    def spy(_conn: Any, _cursor: Any, statement: str, params: Any, *_a: Any) -> None:
        statements.append((statement, params))

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", spy)
    try:
        scored = scoring.score_pending(session, campaign_id=syn.campaign_id, limit=300)
        pending = scoring.pending_count(session, campaign_id=syn.campaign_id)
    finally:
        event.remove(engine, "before_cursor_execute", spy)
    session.commit()
    assert scored == 0 and pending == 0
    assert _mark_row(session, syn.campaign_id) == mark
    reads = [(s, p) for s, p in statements if "FROM survey_response" in s]
    assert reads
    for stmt, params in reads:
        # Every read of the responses is bounded below by the mark (a primary-key range).
        assert "survey_response.id >" in stmt, stmt
        values = params.values() if isinstance(params, dict) else params
        assert mark[0] in list(values), (stmt, params)


def test_a_response_committed_late_below_the_mark_is_still_scored(
    app: FastAPI, session: Session, synthetic: Callable[..., Synthetic]
) -> None:
    # Two writers on PostgreSQL may commit out of id order: the later id shows first.
    syn = synthetic(n=60, units=1, areas=1, seed=5, comment_share=0.5, flagged_share=0.0)
    last = _last_id(session, syn.campaign_id)
    _respond(app.state.engine, syn, last + 10, "服务态度很好，办事效率高，点赞")
    assert scoring.pending_count(session, campaign_id=syn.campaign_id) > 0
    job.score_all(app.state.engine)
    assert _mark_row(session, syn.campaign_id) == (last + 10, 61)

    late = "社保窗口排队两个小时，工作人员态度很差"
    _new_negative_comment_is_found(app, session, syn, last + 5, late, q="排队两个小时")
    assert _mark_row(session, syn.campaign_id) == (last + 10, 62)


def test_inline_scoring_limit_keeps_the_mark_before_the_first_unscored(
    app: FastAPI, session: Session, synthetic: Callable[..., Synthetic]
) -> None:
    syn = synthetic(n=80, units=1, areas=1, seed=7, comment_share=1.0, flagged_share=0.0)
    assert scoring.score_pending(session, campaign_id=syn.campaign_id, limit=30, batch=16) == 30
    session.commit()
    first_unscored = session.execute(
        select(func.min(SurveyResponse.id))
        .outerjoin(CommentSentiment, CommentSentiment.response_id == SurveyResponse.id)
        .where(CommentSentiment.response_id.is_(None))
    ).scalar_one()
    assert _mark_row(session, syn.campaign_id) == (first_unscored - 1, 30)
    assert scoring.pending_count(session, campaign_id=syn.campaign_id) == 50
    assert scoring.score_pending(session, campaign_id=syn.campaign_id) == 50
    session.commit()
    assert scoring.pending_count(session, campaign_id=syn.campaign_id) == 0
    assert _mark_row(session, syn.campaign_id) == (_last_id(session, syn.campaign_id), 80)


def test_two_scorers_scoring_the_same_comments_at_once_both_succeed(
    app: FastAPI,
    session: Session,
    synthetic: Callable[..., Synthetic],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Two scorers (the jobs of two server processes, or a job and `minyi analytics rebuild`)
    # find the same comments unscored; the other stores its scores while this one classifies.
    syn = synthetic(n=60, units=1, areas=1, seed=8, comment_share=1.0, flagged_share=0.0)
    model = sentiment.sentiment_model()
    predict = model.predict
    raced = {"done": False}

    def predict_while_another_view_scores(texts: list[str]) -> list[tuple[str, float, list[str]]]:
        if not raced["done"]:
            raced["done"] = True
            with Session(app.state.engine) as other:
                assert scoring.score_pending(other, campaign_id=syn.campaign_id) == 60
                other.commit()
        return predict(texts)

    monkeypatch.setattr(model, "predict", predict_while_another_view_scores)
    scoring.score_pending(session, campaign_id=syn.campaign_id)
    session.commit()
    page = search.list_comments(session, campaign_id=syn.campaign_id, limit=100)
    assert raced["done"]
    assert page.pending == 0 and page.total == 60
    assert all(r["sentiment"] in sentiment.LABELS for r in page.rows)
    stored = session.execute(select(func.count()).select_from(CommentSentiment)).scalar_one()
    assert stored == 60


# --- the app's scoring job; reading never writes --------------------------------------------


def test_comment_views_answer_without_writing(
    make_app: Callable[..., FastAPI], synthetic: Callable[..., Synthetic]
) -> None:
    app = make_app(comment_scoring_interval=0)  # no job: only what the views do is seen
    syn = synthetic(n=60, units=1, areas=1, seed=9, comment_share=1.0, flagged_share=0.0)
    statements: list[str] = []

    def spy(_conn: Any, _cursor: Any, statement: str, *_a: Any) -> None:
        statements.append(statement.lstrip().split(None, 1)[0].upper())

    with TestClient(app) as client, Session(app.state.engine) as s:
        h = headers_for(client, s, "evaluator")
        event.listen(app.state.engine, "before_cursor_execute", spy)
        try:
            for path in ("comments", "comments/themes"):
                r = client.get(f"/api/v1/campaigns/{syn.campaign_id}/{path}", headers=h)
                assert r.status_code == 200 and r.json()["pending"] == 60
        finally:
            event.remove(app.state.engine, "before_cursor_execute", spy)
        assert not {"INSERT", "UPDATE", "DELETE"} & set(statements), statements
        assert _stored_scores(s) == 0


def test_the_app_scores_new_comments_in_the_background(
    make_app: Callable[..., FastAPI], synthetic: Callable[..., Synthetic]
) -> None:
    app = make_app(comment_scoring_interval=0.2)
    syn = synthetic(n=40, units=1, areas=1, seed=10, comment_share=1.0, flagged_share=0.0)
    with TestClient(app), Session(app.state.engine) as s:
        deadline = time.monotonic() + 60
        while scoring.pending_count(s, campaign_id=syn.campaign_id) and time.monotonic() < deadline:
            s.rollback()
            time.sleep(0.1)
        assert scoring.pending_count(s, campaign_id=syn.campaign_id) == 0
        assert _stored_scores(s) == 40
        assert _mark_row(s, syn.campaign_id) == (_last_id(s, syn.campaign_id), 40)
    # Stopped with the app.
    assert app.state.comment_scoring is None


def test_scoring_keeps_its_pace_while_responses_are_stored(
    make_app: Callable[..., FastAPI],
    synthetic: Callable[..., Synthetic],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from analytics.comments import job

    monkeypatch.setattr(job, "BUSY_PACE", 0.5)
    app = make_app(comment_scoring_interval=0)
    syn = synthetic(n=40, units=1, areas=1, seed=11, comment_share=1.0, flagged_share=0.0)
    storing = {"now": True}
    runner = job.ScoringJob(app.state.engine, interval=0.1, batch=5, busy=lambda: storing["now"])
    runner.start()
    try:
        with Session(app.state.engine) as s:
            deadline = time.monotonic() + 60  # the first batch loads the model
            while _stored_scores(s) < 5 and time.monotonic() < deadline:
                s.rollback()
                time.sleep(0.05)
            first = _stored_scores(s)
            time.sleep(1.2)  # a busy writer: a batch at most every 0.5 s, so 3 more at most
            s.rollback()
            assert first >= 5 and _stored_scores(s) - first <= 15
        storing["now"] = False  # the burst is over: the rest at full pace
        deadline = time.monotonic() + 60
        with Session(app.state.engine) as s:
            while scoring.pending_count(s, campaign_id=syn.campaign_id) and (
                time.monotonic() < deadline
            ):
                s.rollback()
                time.sleep(0.1)
            assert _stored_scores(s) == 40
    finally:
        runner.stop()
