"""The in-domain comment corpus the sentiment and aspect heads are trained on.

Every ``analytics/data/comment_corpus/*.jsonl`` file, one labelled comment per line (``id``,
``text``, ``lang``, ``body``, ``sentiment``, ``aspects``; see that folder's ``README.md``). The
split is fixed by a hash of each comment's id, so lines added later never move existing ones
between train, dev and test. The corpus is read from the source tree only (it is not package
data): training needs it, scoring needs only the weights.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from analytics.comments.sentiment import ASPECTS

CORPUS = Path(__file__).resolve().parent.parent / "data" / "comment_corpus"
SENTIMENTS = ("positive", "negative", "mixed")
__all__ = ["ASPECTS", "CorpusError", "Example", "load", "split", "split_of", "fingerprint"]
LANGS = ("zh", "en")
SPLITS = ("train", "dev", "test")
KEYS = ("id", "text", "lang", "body", "sentiment", "aspects")
# Percent of ids in train, then dev; the rest is test.
TRAIN_PCT, DEV_PCT = 70, 15


class CorpusError(ValueError):
    """A corpus line that does not parse or breaks a rule (file and line named)."""


@dataclass(frozen=True)
class Example:
    """One labelled comment."""

    id: str
    text: str
    lang: str
    body: str
    sentiment: str
    aspects: tuple[str, ...]

    @property
    def split(self) -> str:
        """``train``, ``dev`` or ``test``, fixed by the id."""
        return split_of(self.id)


def split_of(example_id: str) -> str:
    """The split of an id: the first 8 bytes of its SHA-256 modulo 100 (70 / 15 / 15)."""
    bucket = int.from_bytes(hashlib.sha256(example_id.encode("utf-8")).digest()[:8], "big") % 100
    if bucket < TRAIN_PCT:
        return "train"
    return "dev" if bucket < TRAIN_PCT + DEV_PCT else "test"


def _parse(line: str, where: str) -> Example:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise CorpusError(f"{where}: not JSON ({exc.msg})") from exc
    if not isinstance(obj, dict) or set(obj) != set(KEYS):
        raise CorpusError(f"{where}: keys must be exactly {', '.join(KEYS)}")
    for key in ("id", "text", "lang", "body", "sentiment"):
        if not isinstance(obj[key], str) or not obj[key].strip():
            raise CorpusError(f"{where}: {key} must be a non-empty string")
    if obj["lang"] not in LANGS:
        raise CorpusError(f"{where}: lang must be one of {', '.join(LANGS)}")
    if obj["sentiment"] not in SENTIMENTS:
        raise CorpusError(f"{where}: sentiment must be one of {', '.join(SENTIMENTS)}")
    aspects = obj["aspects"]
    if not isinstance(aspects, list) or any(a not in ASPECTS for a in aspects):
        raise CorpusError(f"{where}: aspects must be a list of {', '.join(ASPECTS)}")
    if len(set(aspects)) != len(aspects):
        raise CorpusError(f"{where}: an aspect is listed twice")
    return Example(
        id=obj["id"],
        text=obj["text"].strip(),
        lang=obj["lang"],
        body=obj["body"],
        sentiment=obj["sentiment"],
        aspects=tuple(a for a in ASPECTS if a in aspects),
    )


def load(folder: Path = CORPUS) -> list[Example]:
    """Every valid comment of the corpus, sorted by id; raises ``CorpusError`` on a bad line."""
    out: dict[str, Example] = {}
    for path in sorted(folder.glob("*.jsonl")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            where = f"{path.name}:{n}"
            ex = _parse(line, where)
            if ex.id in out:
                raise CorpusError(f"{where}: id {ex.id} appears twice")
            out[ex.id] = ex
    return [out[k] for k in sorted(out)]


def split(examples: list[Example]) -> dict[str, list[Example]]:
    """The examples of each split, in id order."""
    parts: dict[str, list[Example]] = {s: [] for s in SPLITS}
    for ex in examples:
        parts[ex.split].append(ex)
    return parts


def fingerprint(examples: list[Example]) -> str:
    """A short hash of the corpus content, stored with the weights they were trained on."""
    h = hashlib.sha256()
    for ex in examples:
        h.update(
            json.dumps([ex.id, ex.text, ex.sentiment, ex.aspects], ensure_ascii=False).encode()
        )
    return h.hexdigest()[:16]
