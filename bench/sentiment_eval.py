"""The shipped sentiment and aspect model on the corpus's test split, two review sets and speed.

Usage (from the repository root):

    .venv/bin/python bench/sentiment_eval.py [--sample 2000] [--seed 0] [--speed 300]

- test split of ``analytics/data/comment_corpus`` (never used to fit or choose anything):
  positive vs negative accuracy and balanced accuracy (which of the two the model finds
  likelier), mixed/neutral recall with the neutral band, the 3x3 confusion matrix, per-aspect
  precision / recall / F1, the reliability curve (10 bins of top-class confidence: mean
  predicted vs observed, counts) and the expected calibration error;
- ``waimai_10k.csv`` and ``ChnSentiCorp_htl_all.csv`` (delivery and hotel reviews, labelled;
  read from ``$MINYI_SHARED_DIR/data/zh_sentiment`` or the sibling ``shared/``, never copied
  into the repository, nothing fitted on them): accuracy and balanced accuracy on a seeded
  sample;
- speed: the model's load time in a fresh process state, and milliseconds per comment, one
  comment at a time on one thread (median and p95).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analytics.comments import corpus, sentiment, training  # noqa: E402

SHARED = Path(os.environ.get("MINYI_SHARED_DIR") or ROOT.parent / "shared")
REVIEWS = SHARED / "data" / "zh_sentiment"


def reviews(name: str, sample: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """A seeded sample of a labelled review file (label first, then text; header skipped)."""
    with (REVIEWS / name).open(encoding="utf-8") as fh:
        rows = [r for r in list(csv.reader(fh))[1:] if len(r) >= 2 and r[1].strip()]
    idx = np.random.default_rng(seed).choice(len(rows), min(sample, len(rows)), replace=False)
    return np.array([int(rows[i][0]) for i in idx]), [rows[i][1] for i in idx]


def binary(name: str, model: sentiment.SentimentModel, y: np.ndarray, texts: list[str]) -> None:
    """Accuracy and balanced accuracy of positive vs negative (score above 0.5)."""
    pred = (model.score(texts) > 0.5).astype(int)
    acc = float((pred == y).mean())
    bal = float(((pred[y == 1] == 1).mean() + (pred[y == 0] == 0).mean()) / 2)
    print(f"{name}: n={len(y)} accuracy={acc:.3f} balanced_accuracy={bal:.3f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sample", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--speed", type=int, default=300, help="single comments timed")
    args = ap.parse_args()
    t = time.perf_counter()
    model = sentiment.SentimentModel(sentiment.HEAD, sentiment.Embedder())
    model.predict(["窗口的同志态度很好"])  # the engine loads on its first text
    print(f"model {sentiment.MODEL_NAME} ready in {time.perf_counter() - t:.2f} s", flush=True)
    sentiment._model = model  # the evaluation below reuses this one

    examples = corpus.load()
    test = corpus.split(examples)["test"]
    print(f"corpus {corpus.fingerprint(examples)}: {len(examples)} comments", flush=True)
    w = training.read(sentiment.HEAD)
    r = training.evaluate(w, test)
    print(training.summary("test split", r))
    print("reliability (bin, n, mean predicted, observed):")
    for lo, hi, n, conf, acc in r["reliability"]:
        print(f"  {lo:.1f}-{hi:.1f}  {n:4d}  {conf:.3f}  {acc:.3f}")

    for name in ("waimai_10k.csv", "ChnSentiCorp_htl_all.csv"):
        if (REVIEWS / name).exists():
            y, texts = reviews(name, args.sample, args.seed)
            binary(f"{name} sample", model, y, texts)
        else:
            print(f"{name}: not found under {REVIEWS}", flush=True)

    texts = [e.text for e in test][: args.speed]
    ms = []
    for text in texts:
        t = time.perf_counter()
        model.predict([text])
        ms.append((time.perf_counter() - t) * 1000)
    a = np.array(ms)
    load = os.getloadavg()[0]
    print(
        f"one comment at a time ({len(a)} test-split comments, load average {load:.1f}): "
        f"median {np.median(a):.1f} ms, p95 {np.quantile(a, 0.95):.1f} ms",
        flush=True,
    )


if __name__ == "__main__":
    main()
