"""The per-subject assessment: every source, the composite with its interval, the rank range
among the subjects of the assessment and the ranks under other weights.

Missing sources: a subject without a score from a weighted source gets a composite over the
sources it has (weights normalised over them) so the office sees where it stands, but it is
flagged with the missing sources named and it is **not ranked**: a composite over fewer
sources is not comparable with the others. Ranks, rank ranges and the sensitivity are computed
among the complete subjects only. Every read of a result is audited (who, which assessment and
subject), as individual leaders' results are personnel files. These are the live results: a
finalised assessment is read from what was stored when it was finalised (``snapshot``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlmodel import Session

from analytics.assessment import composite as comp
from analytics.assessment.models import Assessment
from analytics.assessment.schemas import (
    AssessmentResult,
    ScenarioChange,
    SourceScore,
    SubjectAssessment,
)
from analytics.assessment.service import assessment_public
from analytics.assessment.sources import entered_scores, evaluation_scores, public_scores
from analytics.indicators.sensitivity import BASE
from analytics.indicators.statistics import Z, rounded
from service import audit
from surveys.evaluation import service as evaluation
from surveys.evaluation.models import EvaluationSubject, SubjectKind
from surveys.units.models import Unit

SOURCES = list(comp.SOURCES)


def _subjects(session: Session, *, assessment: Assessment) -> list[EvaluationSubject]:
    """The active subjects of the assessment's kind, and any other with an entered score."""
    assert assessment.id is not None
    kind = SubjectKind(assessment.config["kind"])
    active = evaluation.subjects(session, kind=kind, active=True)
    scored = {sid for sid, _ in entered_scores(session, assessment_id=assessment.id)}
    extra = scored - {s.id for s in active}
    if extra:
        active += evaluation.subjects(session, kind=kind, ids=sorted(extra))
    return active


def _unit_codes(session: Session, subjects: list[EvaluationSubject]) -> dict[int, str]:
    ids = [s.unit_id for s in subjects if s.unit_id is not None]
    return {u.id: u.code for u in (session.get(Unit, i) for i in set(ids)) if u and u.id}


def compute_results(
    session: Session, *, assessment: Assessment, min_group_size: int, seed: int = comp.SEED
) -> AssessmentResult:
    """Every subject of the assessment with its sources, composite, interval and rank range."""
    assert assessment.id is not None
    config = assessment.config
    weights = {s: float(config["weights"].get(s, 0.0)) for s in SOURCES}
    subjects = _subjects(session, assessment=assessment)
    public = public_scores(
        session,
        subjects=subjects,
        campaign_ids=config["public_campaign_ids"],
        min_group_size=min_group_size,
    )
    rated = evaluation_scores(
        session,
        subjects=subjects,
        campaign_ids=config["evaluation_campaign_ids"],
        min_group_size=min_group_size,
    )
    entered = entered_scores(session, assessment_id=assessment.id)
    table: list[dict[str, SourceScore | None]] = []
    for s in subjects:
        assert s.id is not None
        table.append(
            {
                "public": public.get(s.id),
                "evaluation": rated.get(s.id),
                "results": entered.get((s.id, "results")),
                "reform": entered.get((s.id, "reform")),
            }
        )
    n = len(subjects)
    scores = np.full((n, len(SOURCES)), np.nan)
    ses = np.zeros((n, len(SOURCES)))
    for i, row in enumerate(table):
        for j, src in enumerate(SOURCES):
            cell = row[src]
            if cell is not None:
                scores[i, j] = cell.score
                ses[i, j] = cell.se if cell.se is not None else (cell.high - cell.low) / (2 * Z)
    wv = np.array([weights[s] for s in SOURCES])
    combined = comp.combine(scores, ses, wv)
    used = np.array([j for j, s in enumerate(SOURCES) if weights[s] > 0], dtype=np.int64)
    used_names = [SOURCES[int(j)] for j in used]
    full = np.flatnonzero(combined.complete)
    rank, r_lo, r_hi = comp.rank_ranges(
        scores[np.ix_(full, used)], ses[np.ix_(full, used)], wv[used], seed=seed
    )
    scen: dict[str, np.ndarray] = {}
    if len(full):
        scen = comp.weight_sensitivity(
            scores[np.ix_(full, used)], used_names, {s: weights[s] for s in used_names}
        )
    at = {int(i): k for k, i in enumerate(full)}
    codes = _unit_codes(session, subjects)
    rows: list[SubjectAssessment] = []
    for i, s in enumerate(subjects):
        assert s.id is not None
        k = at.get(i)
        ranks = {name: int(r[k]) for name, r in scen.items()} if k is not None else {}
        rows.append(
            SubjectAssessment(
                subject_id=s.id,
                name=s.name,
                post=s.post,
                unit_code=codes.get(s.unit_id) if s.unit_id is not None else None,
                sources={src: table[i][src] for src in SOURCES},
                missing=[src for src in used_names if table[i][src] is None],
                complete=bool(combined.complete[i]),
                composite=rounded(combined.value[i], 4),
                ci_low=rounded(combined.low[i], 4),
                ci_high=rounded(combined.high[i], 4),
                rank=int(rank[k]) if k is not None else None,
                rank_low=int(r_lo[k]) if k is not None else None,
                rank_high=int(r_hi[k]) if k is not None else None,
                ranks=ranks,
                max_shift=max(abs(v - ranks[BASE]) for v in ranks.values()) if ranks else None,
            )
        )
    rows.sort(key=lambda r: (r.rank is None, r.rank or 0, r.name, r.subject_id))
    changes = [
        ScenarioChange(
            scenario=name,
            changed=[rows_id for rows_id, _ in _changed(subjects, full, r, scen[BASE])],
        )
        for name, r in scen.items()
        if name != BASE
    ]
    return AssessmentResult(
        assessment=assessment_public(assessment),
        subjects=rows,
        scenarios=changes,
        method=_method(weights),
    )


def _changed(
    subjects: list[EvaluationSubject], full: np.ndarray, ranks: np.ndarray, base: np.ndarray
) -> list[tuple[int, int]]:
    """(subject id, new rank) of the complete subjects whose rank differs from the base."""
    out = []
    for k, i in enumerate(full):
        if ranks[k] != base[k]:
            sid = subjects[int(i)].id
            assert sid is not None
            out.append((sid, int(ranks[k])))
    return out


def _method(weights: dict[str, float]) -> dict[str, Any]:
    return {
        "weights": weights,
        "composite": "sum(w_s * score_s) / sum(w_s) over the weighted sources a subject has",
        "interval": "composite +/- 1.96 * sqrt(sum((w_s / W)^2 * se_s^2)); sources independent; "
        "se_s the source's own standard error (democratic evaluation: its bootstrap se; "
        "resident index and an entered interval: width / (2 * 1.96)); an entered score "
        "without interval has se 0",
        "missing": "a subject without a weighted source is flagged (missing), gets the "
        "composite over the sources it has, and is not ranked",
        "rank": "competition ranking of the complete subjects (1 the highest; ties share)",
        "rank_range": f"2.5% and 97.5% quantiles of each subject's rank over {comp.RANK_DRAWS} "
        "draws of every source from N(score, se) (seeded)",
        "sensitivity": f"ranks with each weight moved by +/-{int(comp.WEIGHT_STEP)} points "
        "(others unchanged, renormalised), with equal weights, each source dropped, and "
        "z-score, min-max and Borda normalisation across subjects",
        "public": "composite index of the unit the subject leads (GET .../ranking), mean over "
        "the configured resident campaigns",
        "evaluation": "the subject's weighted democratic-evaluation score put on 0-100 "
        "(score / the scheme's top points * 100), mean over the configured campaigns",
    }


def record_view(
    session: Session, *, assessment: Assessment, actor: str, subject_id: int | None = None
) -> None:
    """Write who read the results of which assessment (and subject) to the audit log."""
    audit.record(
        session,
        actor=actor,
        action="assessment.view",
        target=f"assessment:{assessment.id}",
        subject_id=subject_id,
    )
