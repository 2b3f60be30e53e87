"""Comment themes: jieba TF-IDF keywords with a domain dictionary and stop words, per unit or
area, with the share of negative comments mentioning each (Wilson interval), the most
negative first. Only groups of at least ``min_group_size`` respondents are shown.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator
from operator import itemgetter
from typing import Any

from sqlalchemy import and_, false, func, select
from sqlmodel import Session, col

from analytics.comments import lexicon
from analytics.comments.models import CommentSentiment
from analytics.comments.scoring import pending_count
from analytics.comments.search import unit_ids, whole_cells
from analytics.comments.sentiment import DATA, LABELS, MODEL_NAME
from analytics.indicators import get_campaign, wilson
from service.errors import Invalid
from service.memory import give_back
from surveys.forms.models import SurveyResponse
from surveys.units.models import Unit

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

STOP_WORDS = frozenset(
    w.strip()
    for w in (DATA / "stopwords.txt").read_text(encoding="utf-8").splitlines()
    if w.strip() and not w.startswith("#")
)
# The splitter maps its lexicon files (analytics/comments/lexicon.py) while themes are being
# computed and for this long after; the pages are the system's file cache, shared by the
# workers, and unmapped with it.
IDLE_SECONDS = 60.0
# The frequency the domain words are added to jieba's dictionary at.
DOMAIN_FREQ = 20000


class _Splitter:
    """jieba's dictionary with the domain words and its IDF table, mapped from files.

    ``over(texts)`` gives the words of those texts: a ``jieba.Tokenizer`` holding only the
    dictionary keys that cutting them asks for, which cuts them as a tokenizer holding the
    whole dictionary would. The IDF is read as ``jieba.analyse`` reads it, without importing
    ``jieba.analyse``: that import also loads the part-of-speech tagger's table of every
    dictionary word (50 MB), which keywords without a part-of-speech filter never read."""

    def __init__(self) -> None:
        import jieba

        jieba.setLogLevel(logging.WARNING)
        self.lexicon = lexicon.open_lexicon(DOMAIN_WORDS, DOMAIN_FREQ)
        # jieba.analyse's TF-IDF stop words (its English ones) and ours.
        self.stop_words = _JIEBA_STOP_WORDS | STOP_WORDS

    def over(self, texts: Iterable[str]) -> _Words:
        """The words of these texts (``keywords`` and ``tokens`` of no other text)."""
        return _Words(self, self.lexicon.tokenizer(texts))


class _Words:
    """Keywords and tokens of the texts a ``_Splitter.over`` was given."""

    def __init__(self, splitter: _Splitter, tokenizer: Any) -> None:
        self.splitter = splitter
        self.tokenizer = tokenizer

    def keywords(self, text: str, top: int) -> list[tuple[str, float]]:
        """``jieba.analyse.extract_tags(text, topK=top, withWeight=True)``, step for step."""
        stop_words = self.splitter.stop_words
        freq: dict[str, float] = {}
        for w in self.tokenizer.cut(text):
            if len(w.strip()) < 2 or w.lower() in stop_words:
                continue
            freq[w] = freq.get(w, 0.0) + 1.0
        total = sum(freq.values())
        idf = self.splitter.lexicon.idf.lookup(freq)
        median = self.splitter.lexicon.median_idf
        for k in freq:
            freq[k] *= idf.get(k, median) / total
        return sorted(freq.items(), key=itemgetter(1), reverse=True)[:top]

    def tokens(self, text: str) -> set[str]:
        return {w.lower() for w in self.tokenizer.lcut(text) if w.strip()}


# jieba.analyse.KeywordExtractor.STOP_WORDS (jieba 0.42).
_JIEBA_STOP_WORDS = frozenset(
    (
        "the", "of", "is", "and", "to", "in", "that", "we", "for", "an", "are",
        "by", "be", "as", "on", "with", "can", "if", "from", "which", "you", "it",
        "this", "then", "at", "have", "all", "not", "one", "has", "or", "that",
    )
)  # fmt: skip

_lock = threading.Lock()
_splitter: _Splitter | None = None
_users = 0
_timer: threading.Timer | None = None


@contextlib.contextmanager
def _words() -> Iterator[_Splitter]:
    """The splitter, loaded if it is not; dropped ``IDLE_SECONDS`` after its last user."""
    global _splitter, _users, _timer
    with _lock:
        if _timer is not None:
            _timer.cancel()
            _timer = None
        if _splitter is None:
            _splitter = _Splitter()
        _users += 1
        mine = _splitter
    try:
        yield mine
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                _timer = threading.Timer(IDLE_SECONDS, _drop)
                _timer.daemon = True
                _timer.start()


def _drop() -> None:
    global _splitter
    with _lock:
        if _users or _splitter is None:
            return
        _splitter = None
    give_back()  # what the computations left, to the system now


def keywords(text: str, *, top: int = 20) -> list[tuple[str, float]]:
    """TF-IDF keywords of a text (jieba's IDF table, domain words, stop words removed)."""
    with _words() as splitter:
        return _keywords(splitter.over([text]), text, top)


def _keywords(words: _Words, text: str, top: int) -> list[tuple[str, float]]:
    return [
        (w, float(s))
        for w, s in words.keywords(text, top * 2)
        if w.lower() not in STOP_WORDS and not w.isdigit() or w in DOMAIN_WORDS
    ][:top]


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
    pooled: bool = False,
) -> dict[str, Any]:
    """Sentiment shares and themes per unit or area, the most negative themes first;
    ``pooled``: one group of all the shown units' (areas') comments, the district's themes."""
    get_campaign(session, campaign_id)
    if by not in ("unit", "area"):
        raise Invalid.field(("query", "by"), "use unit or area")
    ids = unit_ids(session, {"unit_code": unit_code, "area_code": area_code})
    # Sentiment shares and themes are counts over a group's comments: only groups (a unit or
    # an area, under the filters) that are whole disclosure blocks are shown.
    sizes = {
        int(key[0]): n
        for key, n in whole_cells(
            session,
            campaign_id=campaign_id,
            fields=[by],
            unit_id=ids.get("unit_code"),
            area_id=ids.get("area_code"),
            include_flagged=include_flagged,
            k=min_group_size,
        ).items()
    }
    r = SurveyResponse
    gcol = col(r.unit_id) if by == "unit" else col(r.area_unit_id)
    conds: list[Any] = [
        col(r.campaign_id) == campaign_id,
        col(r.comment).is_not(None),
        col(r.comment) != "",
        gcol.in_(sorted(sizes) or [-1]),
    ]
    if not include_flagged:
        conds.append(col(r.flagged) == false())
    if "unit_code" in ids:
        conds.append(col(r.unit_id) == ids["unit_code"])
    if "area_code" in ids:
        conds.append(col(r.area_unit_id) == ids["area_code"])
    # Each group's newest max_comments, picked in the database: fetching every comment and
    # keeping the first ones read 3 million rows at ten million responses, converted in one
    # C call that held the GIL for seconds (long enough for uvicorn to kill the worker).
    nth = func.row_number().over(partition_by=gcol, order_by=col(r.id).desc())
    newest = (
        select(gcol.label("gid"), col(r.id).label("rid"), nth.label("nth"))
        .where(and_(*conds), gcol.is_not(None))
        .subquery()
    )
    stmt = (
        select(newest.c.gid, col(r.comment), col(CommentSentiment.label))
        .select_from(newest)
        .join(r, col(r.id) == newest.c.rid)
        .outerjoin(CommentSentiment, col(CommentSentiment.response_id) == col(r.id))
        .where(newest.c.nth <= max_comments)
        .order_by(col(r.id).desc())
    )
    per_group: dict[int, list[tuple[str, str | None]]] = defaultdict(list)
    for gid, text, lab in session.execute(stmt).all():
        per_group[int(gid)].append((text, lab))
    if pooled:
        # A union of whole groups is whole blocks too: their comments as one group (code None).
        per_group = defaultdict(list, {0: [c for g in per_group.values() for c in g]})
        sizes = {0: sum(sizes.values())}
        if not per_group[0]:
            per_group.clear()
    labels = {
        int(i): (c, nm, ne)
        for i, c, nm, ne in session.execute(
            select(col(Unit.id), col(Unit.code), col(Unit.name), col(Unit.name_en)).where(
                col(Unit.id).in_(list(per_group) or [-1])
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
        rows = theme_rows(comments, top=top)
        groups.append(
            {
                f"{by}_code": code,
                f"{by}_name": name,
                f"{by}_name_en": name_en,
                "respondents": sizes.get(gid, 0),
                "comments": len(comments),
                "sentiment": shares,
                "themes": rows,
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
        },
    }


def theme_rows(
    comments: list[tuple[str, str | None]], *, top: int = 10, source: list[str] | None = None
) -> list[dict[str, Any]]:
    """Themes of (text, label) comments, the most negative first: keywords of ``source``
    texts (all the comments' when None) found in at least two comments, with the share of
    negative comments among those mentioning each (Wilson interval)."""
    texts = source if source is not None else [t for t, _ in comments]
    with _words() as splitter:
        words = splitter.over(texts if source is None else [*texts, *(t for t, _ in comments)])
        kw = _keywords(words, "\n".join(texts), top * 3)
        token_sets = [(words.tokens(t), lab) for t, lab in comments]
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
    return rows[:top]


def _r(x: float | None, nd: int = 6) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return round(float(x), nd)


def _theme_order(row: dict[str, Any]) -> tuple[float, int, str]:
    return (-float(row["negative_ci_low"] or 0.0), -int(row["comments"]), str(row["keyword"]))
