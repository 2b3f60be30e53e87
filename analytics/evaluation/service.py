"""The results of a democratic evaluation as the API, the dashboard view and the one-page
report all read them: one function computes them (``evaluation_results``), one reads them for
a person and writes the audit entry (``read_evaluation``).

Results are given only once the campaign has closed: while sheets still arrive, two views an
hour apart would differ by the sheets in between, and a difference of one sheet is one
rater's grades, whatever the groups' sizes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from sqlmodel import Session, col, select

from analytics.evaluation import results as compute
from analytics.evaluation.config import Config, parse
from analytics.evaluation.schemas import (
    EvaluationResults,
    GradeCount,
    ItemCounts,
    RaterGroup,
    RaterGroupResult,
    RuleOutcome,
    ScaleGrade,
    SubjectEvaluation,
    WeightNote,
)
from analytics.evaluation.weights import notes
from analytics.evaluation.words import group_label, item_label, rule_text
from service import audit
from service.db import stored_id, utcnow
from service.errors import Conflict, NotFound
from surveys.evaluation import service as evaluation
from surveys.evaluation.models import EvaluationSubject
from surveys.forms.models import Campaign


class NotEvaluation(Conflict):
    """The campaign is a residents' survey, not a democratic evaluation."""


class NotClosed(Conflict):
    """The evaluation has not closed yet."""


def is_running(campaign: Campaign, *, now: datetime | None = None) -> bool:
    """Whether a democratic evaluation has not closed yet."""
    return evaluation.is_evaluation(campaign) and (now or utcnow()) < campaign.closes_at


def check_readable(campaign: Campaign, *, now: datetime | None = None) -> None:
    """409 unless the campaign is a democratic evaluation that has closed."""
    if not evaluation.is_evaluation(campaign):
        raise NotEvaluation("This campaign is not a democratic evaluation")
    if (now or utcnow()) < campaign.closes_at:
        raise NotClosed(
            "The results of a democratic evaluation are given once it closes "
            f"({campaign.closes_at.isoformat()})"
        )


def config_of(campaign: Campaign) -> Config:
    """The campaign's configuration, typed for the computation."""
    return parse(evaluation.evaluation_config(campaign).model_dump())


def _items(counts: dict[str, compute.Counts], cfg: Config) -> list[ItemCounts]:
    out = []
    for item in cfg.graded_items:
        c = counts.get(item.key) or compute.count((), cfg)
        shares = c.shares()
        grades = [
            GradeCount(
                grade=g.key,
                label=g.label,
                label_en=g.label_en,
                count=c.counts.get(g.key, 0),
                share=float(shares[g.key]) if g.key in shares else None,
            )
            for g in (*cfg.scale, cfg.unknown)
        ]
        out.append(
            ItemCounts(
                item=item.key,
                label=item_label(cfg, item.key, "zh-CN"),
                label_en=item_label(cfg, item.key, "en"),
                known=c.known,
                unknown=c.unknown,
                grades=grades,
                mean_points=c.mean_points(cfg.points),
            )
        )
    return out


def _rules(result: compute.SubjectResult, cfg: Config) -> list[RuleOutcome]:
    outcomes = {r.rule.key: r for r in result.rules}
    out = []
    for rule in cfg.rules:
        got = outcomes.get(rule.key)
        share = got.share if got else None
        out.append(
            RuleOutcome(
                key=rule.key,
                label=rule.label,
                label_en=rule.label_en,
                text=rule_text(rule, cfg, "zh-CN"),
                text_en=rule_text(rule, cfg, "en"),
                op=rule.op,
                threshold=str(rule.share),
                item=rule.item,
                share=None if share is None else float(share),
                share_exact=None if share is None else str(share),
                flagged=got.flagged if got else None,
            )
        )
    return out


def subject_evaluation(
    result: compute.SubjectResult, subject: EvaluationSubject, cfg: Config, session: Session
) -> SubjectEvaluation:
    """The published form of one subject's result."""
    public = evaluation.subject_public(session, subject)
    groups = [
        RaterGroupResult(
            key=g.key,
            groups=list(g.groups),
            label=group_label(cfg, g.groups, "zh-CN"),
            label_en=group_label(cfg, g.groups, "en"),
            n=g.n,
            weight=g.weight,
            weight_share=g.weight_share,
            mean_points=g.mean_points,
            items=_items(g.items, cfg),
        )
        for g in result.groups
    ]
    return SubjectEvaluation(
        subject_id=result.subject_id,
        kind=str(public.kind.value),
        name=public.name,
        post=public.post,
        unit_code=public.unit_code,
        unit_name=public.unit_name,
        suppressed=result.suppressed,
        n=result.n,
        pooled=result.pooled,
        absent=list(result.absent),
        score=result.score,
        score_low=result.score_low,
        score_high=result.score_high,
        totals=[] if result.suppressed else _items(result.totals, cfg),
        groups=groups,
        rules=[] if result.suppressed else _rules(result, cfg),
    )


def chosen_subjects(
    session: Session,
    *,
    campaign_id: int,
    subject_id: int | None = None,
    kind: str | None = None,
    unit_code: str | None = None,
) -> list[EvaluationSubject]:
    """The campaign's subjects, narrowed to one, to a kind or to a unit (404 for a subject
    the campaign does not rate)."""
    subjects = evaluation.campaign_subjects(session, campaign_id=campaign_id)
    if subject_id is not None:
        subjects = [s for s in subjects if s.id == subject_id]
        if not subjects:
            raise NotFound("This campaign does not rate that subject")
    if kind:
        subjects = [s for s in subjects if s.kind == kind]
    if unit_code:
        public = {s.id: evaluation.subject_public(session, s) for s in subjects}
        subjects = [s for s in subjects if public[s.id].unit_code == unit_code]
    return subjects


def evaluation_results(
    session: Session, *, campaign: Campaign, subjects: Sequence[EvaluationSubject], k: int
) -> EvaluationResults:
    """The results of the given subjects of a closed democratic evaluation."""
    cfg = config_of(campaign)
    campaign_id = stored_id(campaign)
    ids = [stored_id(s) for s in subjects]
    wanted = set(ids)
    rows = [
        compute.GradeRow(*r)
        for r in evaluation.grade_rows(session, campaign_id=campaign_id)
        if r.subject_id in wanted
    ]
    computed = compute.campaign_results(rows, cfg, subject_ids=ids, k=k, campaign_id=campaign_id)
    published = [
        subject_evaluation(r, s, cfg, session) for r, s in zip(computed, subjects, strict=True)
    ]
    labels = {g.key: (g.label, g.label_en, g.weight) for g in cfg.groups}
    for s in published:
        # Pooled and absent groups move weight away from the scheme's: say so in words.
        if not s.suppressed:
            shares = [(g.groups, g.weight_share) for g in s.groups]
            s.weight_notes = [WeightNote(**n) for n in notes(shares, s.absent, labels, k)]
    return EvaluationResults(
        campaign_id=campaign_id,
        title=campaign.title,
        title_en=campaign.title_en,
        closes_at=campaign.closes_at,
        config_hash=campaign.evaluation_hash,
        k=k,
        scale=[
            ScaleGrade(key=g.key, label=g.label, label_en=g.label_en, points=g.points)
            for g in cfg.scale
        ]
        + [
            ScaleGrade(
                key=cfg.unknown.key,
                label=cfg.unknown.label,
                label_en=cfg.unknown.label_en,
                points=None,
            )
        ],
        rater_groups=[
            RaterGroup(key=g.key, label=g.label, label_en=g.label_en, weight=g.weight)
            for g in cfg.groups
        ],
        subjects=published,
    )


def read_evaluation(
    session: Session,
    *,
    campaign: Campaign,
    k: int,
    actor: str,
    action: str = "evaluation.view",
    subject_id: int | None = None,
    kind: str | None = None,
    unit_code: str | None = None,
) -> EvaluationResults:
    """The results a person reads, with the audit entry saying who read which subjects."""
    check_readable(campaign)
    subjects = chosen_subjects(
        session,
        campaign_id=stored_id(campaign),
        subject_id=subject_id,
        kind=kind,
        unit_code=unit_code,
    )
    out = evaluation_results(session, campaign=campaign, subjects=subjects, k=k)
    audit.record(
        session,
        actor=actor,
        action=action,
        target=f"campaign:{out.campaign_id}",
        subjects=[s.subject_id for s in out.subjects],
    )
    return out


def evaluation_campaigns(session: Session) -> list[Campaign]:
    """Every democratic evaluation, the latest to close first."""
    return list(
        session.exec(
            select(Campaign)
            .where(Campaign.kind == evaluation.KIND)
            .order_by(col(Campaign.closes_at).desc(), col(Campaign.id).desc())
        )
    )


def subject_units(session: Session, *, campaign_id: int) -> list[tuple[str, str]]:
    """The units (code, name) the campaign's subjects lead, by name."""
    subjects = evaluation.campaign_subjects(session, campaign_id=campaign_id)
    units = {}
    for s in evaluation.subjects_public(session, subjects):
        if s.unit_code:
            units[s.unit_code] = s.unit_name or s.unit_code
    return sorted(units.items(), key=lambda kv: kv[1])


# ---------------------------------------------------------------- for the annual assessment


class ScoreMeasure(NamedTuple):
    """A subject's weighted score on the scheme's points, its published interval, its
    standard error and the scheme's top points (what the annual assessment takes)."""

    score: float
    low: float
    high: float
    se: float
    n: int
    top: float


def score_measures(
    session: Session, *, campaign: Campaign, subjects: Sequence[EvaluationSubject], k: int
) -> dict[int, ScoreMeasure]:
    """Each subject's score with its interval and standard error, for a closed evaluation
    (nothing while it runs), leaving out subjects whose raters are too few to show."""
    if is_running(campaign):
        return {}
    cfg = config_of(campaign)
    campaign_id = stored_id(campaign)
    ids = [stored_id(s) for s in subjects]
    wanted = set(ids)
    by_subject = compute.by_subject(
        compute.GradeRow(*r)
        for r in evaluation.grade_rows(session, campaign_id=campaign_id)
        if r.subject_id in wanted
    )
    computed = compute.campaign_results(
        [r for sid in ids for r in by_subject.get(sid, [])],
        cfg,
        subject_ids=ids,
        k=k,
        campaign_id=campaign_id,
    )
    top = max(cfg.points.values())
    out: dict[int, ScoreMeasure] = {}
    for r in computed:
        if r.suppressed or r.score is None or r.score_low is None or r.score_high is None:
            continue
        if r.score_se is None:
            continue
        out[r.subject_id] = ScoreMeasure(
            r.score, r.score_low, r.score_high, r.score_se, r.n or 0, float(top)
        )
    return out
