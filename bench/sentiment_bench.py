"""Comment sentiment: accuracy on a held-out public set and speed per comment.

Usage (from the repository root):

    .venv/bin/python bench/sentiment_bench.py [--sample 2000] [--seed 0]

Reads ``../shared/data/zh_sentiment/waimai_10k.csv`` (delivery reviews, labelled; evaluation
only, never copied into the repository; nothing was fitted on it), draws a seeded sample,
and reports accuracy, balanced accuracy, the share called neutral, and milliseconds per
comment, one comment at a time (as a view scores a new comment) and in batches of 64 (as
``minyi analytics rebuild`` does). Also reports the public-service comments written for
the tests (``tests/analytics/data/service_comments.tsv``).
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analytics.comments import sentiment  # noqa: E402

WAIMAI = ROOT.parent / "shared" / "data" / "zh_sentiment" / "waimai_10k.csv"


def report(name: str, y: np.ndarray, s: np.ndarray) -> None:
    pred = (s > 0.5).astype(int)
    acc = (pred == y).mean()
    bal = ((pred[y == 1] == 1).mean() + (pred[y == 0] == 0).mean()) / 2
    neutral = (np.abs(s - 0.5) < sentiment.NEUTRAL_BAND).mean()
    sure = np.abs(s - 0.5) >= sentiment.NEUTRAL_BAND
    acc_sure = (pred[sure] == y[sure]).mean()
    print(
        f"{name}: n={len(y)} accuracy={acc:.3f} balanced_accuracy={bal:.3f} "
        f"neutral_share={neutral:.3f} accuracy_when_not_neutral={acc_sure:.3f}",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sample", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t = time.perf_counter()
    model = sentiment.sentiment_model()
    print(f"model {sentiment.MODEL_NAME} ready in {time.perf_counter() - t:.2f} s", flush=True)
    with WAIMAI.open(encoding="utf-8") as fh:
        rows = list(csv.reader(fh))[1:]
    idx = np.random.default_rng(args.seed).choice(len(rows), args.sample, replace=False)
    y = np.array([int(rows[i][0]) for i in idx])
    texts = [rows[i][1] for i in idx]
    lengths = np.array([len(x) for x in texts])
    print(
        f"waimai sample: median {np.median(lengths):.0f} characters, p90 "
        f"{np.quantile(lengths, 0.9):.0f}",
        flush=True,
    )
    singles = []
    scores = []
    for x in texts:
        t = time.perf_counter()
        scores.append(float(model.score([x])[0]))
        singles.append((time.perf_counter() - t) * 1000)
    report("waimai_10k sample", y, np.array(scores))
    ms = np.array(singles)
    print(
        f"one at a time: mean {ms.mean():.1f} ms, p50 {np.median(ms):.1f} ms, "
        f"p95 {np.quantile(ms, 0.95):.1f} ms per comment",
        flush=True,
    )
    t = time.perf_counter()
    for i in range(0, len(texts), 64):
        model.score(texts[i : i + 64])
    print(
        f"batches of 64: {(time.perf_counter() - t) / len(texts) * 1000:.1f} ms per comment",
        flush=True,
    )
    service = ROOT / "tests" / "analytics" / "data" / "service_comments.tsv"
    pairs = [
        line.split("\t", 1)
        for line in service.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    report(
        "public-service comments (tests)",
        np.array([int(a) for a, _ in pairs]),
        model.score([b for _, b in pairs]),
    )


if __name__ == "__main__":
    main()
