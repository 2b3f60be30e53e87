"""Comment sentiment (offline, measured), keywords, themes and the comment list."""

from __future__ import annotations

import csv
import socket
from collections.abc import Callable

import numpy as np
import pytest
from fastapi import FastAPI
from sqlmodel import Session

from analytics import text
from analytics.synthetic import Synthetic
from tests.conftest import SHARED


def test_sentiment_never_touches_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_a: object, **_k: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(text, "_model", None)  # build it from scratch under the guard
    out = text.classify(
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
    s = text.sentiment_model().score([rows[i][1] for i in idx])
    pred = (s > 0.5).astype(int)
    acc = (pred == y).mean()
    bal = ((pred[y == 1] == 1).mean() + (pred[y == 0] == 0).mean()) / 2
    # The full 2,000-row measurement is in bench/sentiment.py; this guards against regressions.
    assert acc >= 0.8 and bal >= 0.78


def test_keywords_use_the_domain_dictionary() -> None:
    words = [w for w, _ in text.keywords("街道办推来推去，打了三次12345，社保手续还是没办好")]
    assert "街道办" in words and "12345" in words and "社保" in words
    assert "还是" not in words


def test_themes_most_negative_first_and_comment_search(
    app: FastAPI, session: Session, synthetic: Callable[..., Synthetic]
) -> None:
    syn = synthetic(n=200, units=2, areas=2, seed=6, comment_share=0.6, flagged_share=0.0)
    res = text.themes(session, campaign_id=syn.campaign_id, by="unit")
    assert res["pending"] == 0
    assert len(res["groups"]) == 2
    for g in res["groups"]:
        shares = g["sentiment"]
        assert sum(shares[k]["count"] for k in text.LABELS) == g["comments"]
        lows = [t["negative_ci_low"] for t in g["themes"]]
        assert lows == sorted(lows, reverse=True)
        assert g["themes"]
        for k in text.LABELS:
            if shares[k]["count"]:
                assert shares[k]["ci_low"] <= shares[k]["share"] <= shares[k]["ci_high"]
    by_area = text.themes(session, campaign_id=syn.campaign_id, by="area")
    assert {g["area_code"] for g in by_area["groups"]} == set(syn.area_codes)

    page = text.list_comments(session, campaign_id=syn.campaign_id, q="12345", limit=200)
    assert page.total > 0 and all("12345" in r["text"] for r in page.rows)
    neg = text.list_comments(session, campaign_id=syn.campaign_id, sentiment="negative", limit=200)
    pos = text.list_comments(session, campaign_id=syn.campaign_id, sentiment="positive", limit=200)
    assert neg.total and pos.total
    assert all(r["sentiment"] == "negative" for r in neg.rows)
    eng = text.list_comments(session, campaign_id=syn.campaign_id, q="STAFF")
    assert all("staff" in r["text"].lower() for r in eng.rows)
    # Wildcards in the search are literal.
    assert text.list_comments(session, campaign_id=syn.campaign_id, q="%").total == 0
    one = text.list_comments(
        session, campaign_id=syn.campaign_id, unit_code=syn.unit_codes[0], limit=1, offset=1
    )
    assert len(one.rows) == 1 and one.rows[0]["unit_code"] == syn.unit_codes[0]
    assert one.rows[0]["month"].startswith("2026-")


def test_sentiment_on_public_service_comments() -> None:
    path = __import__("pathlib").Path(__file__).with_name("data") / "service_comments.tsv"
    rows = [
        line.split("\t", 1)
        for line in path.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    y = np.array([int(a) for a, _ in rows])
    s = text.sentiment_model().score([b for _, b in rows])
    assert ((s > 0.5).astype(int) == y).mean() >= 0.9
