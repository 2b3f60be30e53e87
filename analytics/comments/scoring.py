"""Storing each comment's sentiment once, and finding the comments still to score.

Scoring writes, so no view does it: the app's background job (``job.py``) and
``minyi analytics rebuild`` call ``score_pending``; the views only read what is stored and
say how many comments are still ``pending``.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from analytics.comments.models import CommentScanMark, CommentSentiment
from analytics.comments.sentiment import MODEL_NAME, sentiment_model
from service.db import utcnow
from surveys.forms.models import StatUnit, SurveyResponse
from surveys.forms.stats import RESPONSE_KEY

log = logging.getLogger(__name__)


# Which comments still need a score.
#
# Responses are append-only and their ids increase, so each campaign keeps a mark
# (``comment_scan_mark``): every response up to it has its sentiment stored or no comment.
# Scoring and counting read only the responses past the mark (a primary-key range), not all of them.
# Writers on PostgreSQL may commit out of id order, so a response can appear below the mark
# after it moved; the number of the campaign's responses up to the mark is kept with it and
# checked on every call against the respondent counts of ``stat_unit`` (kept in the same
# transaction as each response): if they differ, that call looks at every response again.


def _unscored() -> list[Any]:
    """Conditions of a response whose comment has no sentiment stored (outer join)."""
    r = SurveyResponse
    return [
        col(CommentSentiment.response_id).is_(None),
        col(r.comment).is_not(None),
        col(r.comment) != "",
    ]


def _past(campaign_id: int, after: int) -> list[Any]:
    """Responses of the campaign with an id past ``after``, read by primary-key range."""
    r = SurveyResponse
    if not after:
        return [col(r.campaign_id) == campaign_id]
    # ``+ 0``: SQLite would otherwise walk the campaign's whole (campaign_id, unit_id) index.
    return [col(r.campaign_id) + 0 == campaign_id, col(r.id) > after]


def _mark(session: Session, *, campaign_id: int, forget: bool = True) -> tuple[int, int]:
    """The campaign's mark and its number of responses if they still hold, else (0, 0)
    (and, with ``forget``, the mark that no longer holds is deleted)."""
    m = CommentScanMark
    row = session.execute(
        select(col(m.response_id), col(m.responses)).where(col(m.campaign_id) == campaign_id)
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
        if forget:
            session.execute(delete(m).where(col(m.campaign_id) == campaign_id))
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
        select(func.min(col(r.id)))
        .select_from(r)
        .outerjoin(CommentSentiment, col(CommentSentiment.response_id) == col(r.id))
        .where(*_past(campaign_id, mark), *_unscored())
        .scalar_subquery()
    )
    # One statement: no comment committed in between can be passed over unscored.
    upto, more = session.execute(
        select(func.max(col(r.id)), func.count()).where(
            *_past(campaign_id, mark),
            col(r.id) < func.coalesce(first, 2**62),
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
    mark, n = (0, 0) if campaign_id is None else _mark(session, campaign_id=campaign_id)
    after = mark
    done = 0
    while limit is None or done < limit:
        take = batch if limit is None else min(batch, limit - done)
        stmt = (
            select(col(SurveyResponse.id), col(SurveyResponse.comment))
            .outerjoin(
                CommentSentiment, col(CommentSentiment.response_id) == col(SurveyResponse.id)
            )
            .where(*_unscored())
            .order_by(col(SurveyResponse.id))
            .limit(take)
        )
        if campaign_id is not None:
            stmt = stmt.where(*_past(campaign_id, after))
        elif after:
            stmt = stmt.where(col(SurveyResponse.id) > after)
        rows = session.execute(stmt).all()
        if not rows:
            break
        # The model is loaded only once there is something to score.
        results = sentiment_model().predict([r[1] for r in rows])
        # Another scorer (the job of another process, the CLI) may have stored the same
        # comments meanwhile: its scores stand.
        now = utcnow()
        session.execute(
            _insert(session, CommentSentiment).on_conflict_do_nothing(),
            [
                {
                    "response_id": r[0],
                    "label": lab,
                    "score": s,
                    "model": MODEL_NAME,
                    "aspects": tags,
                    "created_at": now,
                }
                for r, (lab, s, tags) in zip(rows, results, strict=True)
            ],
        )
        done += len(rows)
        after = int(rows[-1][0])
        if len(rows) < take:
            break
    if campaign_id is not None:
        _advance(session, campaign_id=campaign_id, mark=mark, n=n)
    return done


def rescore_stale(session: Session, *, limit: int = 64) -> int:
    """Score again up to ``limit`` comments stored by another model than ``MODEL_NAME`` (a
    model update reaches the stored rows this way); returns how many were rescored.

    The rows exist, so the campaigns' marks stay true; their ``updated_at`` moves so the
    dashboard's cached bundles (keyed on it) show the new labels.
    """
    cs = CommentSentiment
    rows = session.execute(
        select(col(cs.response_id), col(SurveyResponse.comment), col(SurveyResponse.campaign_id))
        .join(SurveyResponse, col(SurveyResponse.id) == col(cs.response_id))
        .where(col(cs.model) != MODEL_NAME)
        .order_by(col(cs.response_id))
        .limit(limit)
    ).all()
    if not rows:
        return 0
    results = sentiment_model().predict([r[1] or "" for r in rows])
    now = utcnow()
    for r, (lab, s, tags) in zip(rows, results, strict=True):
        session.execute(
            update(cs)
            .where(col(cs.response_id) == r[0], col(cs.model) != MODEL_NAME)
            .values(label=lab, score=s, model=MODEL_NAME, aspects=tags, created_at=now)
        )
    m = CommentScanMark
    session.execute(
        update(m)
        .where(col(m.campaign_id).in_(sorted({int(r[2]) for r in rows})))
        .values(updated_at=now)
    )
    return len(rows)


def pending_count(session: Session, *, campaign_id: int) -> int:
    """Comments of the campaign whose sentiment is not stored yet (reads only)."""
    mark, _n = _mark(session, campaign_id=campaign_id, forget=False)
    stmt = (
        select(func.count())
        .select_from(SurveyResponse)
        .outerjoin(CommentSentiment, col(CommentSentiment.response_id) == col(SurveyResponse.id))
        .where(*_past(campaign_id, mark), *_unscored())
    )
    return int(session.execute(stmt).scalar_one())


def campaigns_with_comments(session: Session) -> list[int]:
    """Ids of the campaigns that have any comment (the ones worth scoring)."""
    r = SurveyResponse
    stmt = (
        select(col(r.campaign_id))
        .where(col(r.comment).is_not(None), col(r.comment) != "")
        .distinct()
        .order_by(col(r.campaign_id))
    )
    return [int(c) for c in session.execute(stmt).scalars()]
