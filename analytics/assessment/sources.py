"""Each source's score of a subject (0-100) with its 95% interval.

- 群众口碑 ("public"): the unit the subject leads, its composite index in each configured
  resident campaign, exactly as ``analytics.indicators.ranking`` publishes it (shrunk scores,
  small groups withheld). Several campaigns: the mean of their indices; they ask different
  residents, so the standard error is ``sqrt(sum se_i^2) / m``. A campaign where the unit is
  withheld or absent does not count; none left: the source is missing.
- 民主测评 ("evaluation"): the subject's weighted score in each configured democratic
  evaluation once closed, from ``analytics.evaluation.service.score_measures`` (raters too few
  to show: no score), put on 0-100 by the scheme's top points (score / top * 100: a scheme
  whose best grade is worth 1000 points counts like one worth 100). Its standard error is the
  evaluation's own (bootstrap, its interval being score +/- t * se clipped to the scale), not
  read back from the interval's width; several campaigns combine as above.
- 实绩 ("results") and 改革攻坚、担当作为 ("reform"): the score staff entered, exact unless
  they gave an interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

from sqlmodel import Session, col, select

from analytics.assessment.models import AssessmentScore
from analytics.assessment.schemas import SourceScore
from analytics.evaluation.service import score_measures
from analytics.indicators.service import ranking
from analytics.indicators.statistics import Z
from service.db import utcnow
from surveys.evaluation import service as evaluation
from surveys.evaluation.models import EvaluationSubject
from surveys.forms.models import Campaign
from surveys.units.models import Unit


class Measured(NamedTuple):
    """A score with its interval and the number of people behind it; ``se`` when the source
    gives its standard error, else the interval is taken as score +/- 1.96 se."""

    score: float
    low: float
    high: float
    n: int
    se: float | None = None

    def standard_error(self) -> float:
        return self.se if self.se is not None else (self.high - self.low) / (2 * Z)


def evaluation_measures(
    session: Session, *, campaign_id: int, subject_ids: Sequence[int], k: int
) -> dict[int, Measured]:
    """Each subject's weighted 民主测评 score on 0-100 with its interval and standard error,
    from the evaluation's results.

    Only a closed evaluation counts (its results are not given before), and only subjects it
    rates whose raters were not too few to show."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or not evaluation.is_evaluation(campaign):
        return {}
    if utcnow() < campaign.closes_at:
        return {}
    wanted = set(subject_ids)
    rated = [
        s for s in evaluation.campaign_subjects(session, campaign_id=campaign_id) if s.id in wanted
    ]
    if not rated:
        return {}
    measures = score_measures(session, campaign=campaign, subjects=rated, k=k)
    out = {}
    for sid, m in measures.items():
        # On 0-100 whatever the scheme's points, like every other source.
        scale = 100.0 / m.top if m.top > 0 else 1.0
        out[sid] = Measured(m.score * scale, m.low * scale, m.high * scale, m.n, m.se * scale)
    return out


def _pooled(parts: Sequence[Measured], what: str) -> SourceScore | None:
    """The mean of independent measurements, its interval from their standard errors."""
    if not parts:
        return None
    m = len(parts)
    score = sum(p.score for p in parts) / m
    se = math.sqrt(sum(p.standard_error() ** 2 for p in parts)) / m
    n = sum(p.n for p in parts)
    if m == 1:
        # One measurement: its own interval as published (a t interval may be clipped).
        low, high, detail = parts[0].low, parts[0].high, what
    else:
        low, high, detail = score - Z * se, score + Z * se, f"{what} x{m}"
    return SourceScore(
        score=round(score, 6),
        low=round(low, 6),
        high=round(high, 6),
        se=round(se, 6),
        n=n,
        detail=detail,
    )


def public_scores(
    session: Session,
    *,
    subjects: Sequence[EvaluationSubject],
    campaign_ids: Sequence[int],
    min_group_size: int,
) -> dict[int, SourceScore | None]:
    """群众口碑 per subject: the composite index of the unit it leads, from ``ranking``."""
    unit_ids = {s.unit_id for s in subjects if s.unit_id is not None}
    codes = dict(
        session.exec(select(Unit.id, Unit.code).where(col(Unit.id).in_(unit_ids))).all()
        if unit_ids
        else []
    )
    per_campaign: list[dict[str, Measured]] = []
    for cid in campaign_ids:
        rows = ranking(session, campaign_id=cid, min_group_size=min_group_size).rows
        per_campaign.append(
            {
                r["unit_code"]: Measured(r["index"], r["ci_low"], r["ci_high"], r["n"])
                for r in rows
                if not r["suppressed"] and r.get("index") is not None
            }
        )
    out: dict[int, SourceScore | None] = {}
    for s in subjects:
        assert s.id is not None
        code = codes.get(s.unit_id) if s.unit_id is not None else None
        parts = [c[code] for c in per_campaign if code is not None and code in c]
        out[s.id] = _pooled(parts, "resident composite index")
    return out


def evaluation_scores(
    session: Session,
    *,
    subjects: Sequence[EvaluationSubject],
    campaign_ids: Sequence[int],
    min_group_size: int,
) -> dict[int, SourceScore | None]:
    """民主测评 per subject: its weighted score in each configured campaign, pooled."""
    ids = [s.id for s in subjects if s.id is not None]
    per_campaign = [
        evaluation_measures(session, campaign_id=cid, subject_ids=ids, k=min_group_size)
        for cid in campaign_ids
    ]
    return {
        sid: _pooled([c[sid] for c in per_campaign if sid in c], "democratic evaluation score")
        for sid in ids
    }


def entered_scores(session: Session, *, assessment_id: int) -> dict[tuple[int, str], SourceScore]:
    """实绩 and 改革 scores by (subject, source); an interval only where staff gave one."""
    rows = session.exec(
        select(AssessmentScore).where(AssessmentScore.assessment_id == assessment_id)
    ).all()
    out: dict[tuple[int, str], SourceScore] = {}
    for r in rows:
        low = r.ci_low if r.ci_low is not None else r.score
        high = r.ci_high if r.ci_high is not None else r.score
        # An entered interval is read as a normal 95% one: se = width / (2 * 1.96).
        out[(r.subject_id, r.source)] = SourceScore(
            score=r.score,
            low=low,
            high=high,
            se=(high - low) / (2 * Z),
            n=None,
            detail=r.source_text,
        )
    return out
