"""Comment themes: jieba TF-IDF keywords with a domain dictionary and stop words, per unit or
area, with the share of negative comments mentioning each (Wilson interval), the most
negative first. Only groups of at least ``min_group_size`` respondents are shown.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import defaultdict
from typing import Any

from sqlalchemy import and_, false, func, select
from sqlmodel import Session, col

from analytics.comments.models import CommentSentiment
from analytics.comments.scoring import pending_count
from analytics.comments.search import unit_ids, whole_cells
from analytics.comments.sentiment import DATA, LABELS, MODEL_NAME
from analytics.indicators import get_campaign, wilson
from service.errors import Invalid
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
    kw = keywords("\n".join(texts), top=top * 3)
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
    return rows[:top]


def _r(x: float | None, nd: int = 6) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return round(float(x), nd)


def _theme_order(row: dict[str, Any]) -> tuple[float, int, str]:
    return (-float(row["negative_ci_low"] or 0.0), -int(row["comments"]), str(row["keyword"]))
