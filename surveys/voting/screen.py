"""The big screen in the hall: what the projector shows of a session, in every state.

Before opening, 应到 / 实到 and the quorum; while open, ballots cast and not yet cast; once a
hall session is closed, the kept result per candidate. A hall session's counts are announced
in the hall at the close, so the screen shows them from then on; a remote session's only once
published, as the results API does. Nothing here names a deputy: the screen is public.

It is polled every second by every screen in the hall, so it reads the kept result (no
recount) and at most two counts besides the session row (after the close, the run-off
rounds started from it instead).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func
from sqlmodel import Session, select

from surveys.voting import hall, runoff
from surveys.voting.hall_models import PaperCount
from surveys.voting.models import (
    SATISFACTION_CHOICES,
    SELECTION_CHOICES,
    Ballot,
    BallotMethod,
    SessionKind,
    SessionMode,
    SessionState,
    VotingSession,
)
from surveys.voting.schemas import AttendanceOut, SelectionResult, parse_result


class ScreenRow(BaseModel):
    """One candidate on the screen after the close."""

    model_config = ConfigDict(frozen=True)

    project_id: int
    title: str
    title_en: str
    budget: int
    counts: dict[str, int]  # by choice, in the order of ``HallState.choices``
    # 未按: deputies present who did not mark it (an invalid paper ballot marks nothing), so
    # the choices + invalid + not_voted = 实到; the absent are HallState.absent, not here.
    not_voted: int
    passed: bool | None  # None for a satisfaction grading
    selected: bool | None
    rank: int | None
    grade: str | None  # a satisfaction grading's grade
    pending: bool  # tied at the cut line, awaiting a run-off


class ScreenTie(BaseModel):
    """Candidates with equal "for" votes whose order decided the selection, and how."""

    project_ids: list[int]
    votes_for: int
    text: str
    text_en: str


class ScreenCutTie(BaseModel):
    """Passing candidates tied at the cut line, and whether a run-off is still to decide."""

    project_ids: list[int]
    votes_for: int
    places: int | None
    pending: bool


class ScreenRound(BaseModel):
    """A run-off round: its candidates, the places it decided and whom it selected."""

    session_id: int
    project_ids: list[int]
    places: int
    selected: list[int]
    counts: dict[str, dict[str, int]]


class ScreenPaper(BaseModel):
    """The paper ballots' reconciliation (发出 / 收回 / 有效 / 无效)."""

    issued: int
    collected: int
    valid: int
    invalid: int


class HallState(BaseModel):
    """The big screen's state (``GET /api/v1/voting-sessions/{id}/hall``)."""

    session_id: int
    title: str
    title_en: str
    kind: Literal["selection", "satisfaction"]
    mode: Literal["remote", "hall"]
    state: Literal["draft", "open", "closed", "published"]
    seated: int  # 应到
    present: int  # 实到: now while signing in and voting (late arrivals too), at the close after
    present_at_opening: int | None  # 实到 frozen at opening (it proved the quorum)
    absent: int  # 缺席: seated - present
    quorum: str | None
    quorum_words: str | None  # the quorum as the hall reads it: 三分之二
    quorum_required: int
    quorum_met: bool
    cast: int | None  # once open: valid ballots, electronic and paper
    voted: int | None  # 投票: ballots received, invalid paper ones included
    invalid: int | None  # 无效票: invalid paper ballots (None without paper)
    not_cast: int | None  # 未投: present - voted
    ballots_electronic: int | None
    ballots_paper: int | None
    paper: ScreenPaper | None
    # Once the counts are shown (a hall session closed, any session published):
    counted: bool
    choices: list[str]  # the columns: "for", "against", "abstain" (or the satisfaction grades)
    candidates: list[ScreenRow]  # in ranking order
    budget_cap: int | None
    budget_used: int | None
    threshold_votes: int | None
    max_selected: int | None
    ties: list[ScreenTie]
    cut_tie: ScreenCutTie | None
    rounds: list[ScreenRound]
    rule: str | None = None  # the count's rule in words, once the counts are shown
    rule_en: str | None = None
    void: bool = False  # the paper count voided the vote: no counts, the reason in words


_DIGITS = "零一二三四五六七八九十"


def zh_fraction(value: str | None) -> str:
    """A quorum such as "2/3" as it is written in Chinese: 三分之二 (up to tenths; any other
    fraction as it is written, "11/20")."""
    if not value:
        return ""
    share = Fraction(value)
    if share.denominator <= 10 and share.numerator <= 10:
        return f"{_DIGITS[share.denominator]}分之{_DIGITS[share.numerator]}"
    return str(share)


def _attendance(session: Session, vs: VotingSession) -> AttendanceOut:
    frozen = hall.attendance_out(vs)
    if frozen is not None:
        return frozen
    if vs.frozen_config is not None and vs.mode == SessionMode.remote:
        # A remote session (no sign-in): everyone seated counts as there.
        seated = int(vs.frozen_config["electorate_size"])
        return AttendanceOut(
            seated=seated, present=seated, quorum=None, quorum_required=0, quorum_met=True
        )
    return hall.attendance_summary(session, vs)


def _paper(session: Session, vs: VotingSession) -> ScreenPaper | None:
    if vs.ballot_method == BallotMethod.electronic:
        return None
    row = session.get(PaperCount, vs.id)
    if row is None:
        return None
    return ScreenPaper(
        issued=row.issued, collected=row.collected, valid=row.valid, invalid=row.invalid
    )


def _shows_counts(vs: VotingSession) -> bool:
    if vs.result is None:
        return False
    if vs.state == SessionState.published:
        return True
    return vs.state == SessionState.closed and vs.mode == SessionMode.hall


def hall_state(session: Session, *, vs: VotingSession) -> HallState:
    """What the big screen shows of the session now."""
    assert vs.id is not None
    att = _attendance(session, vs)
    state = SessionState(vs.state).value
    choices = list(
        SATISFACTION_CHOICES if vs.kind == SessionKind.satisfaction else SELECTION_CHOICES
    )
    out = HallState(
        session_id=vs.id,
        title=vs.title,
        title_en=vs.title_en,
        kind=SessionKind(vs.kind).value,
        mode=SessionMode(vs.mode).value,
        state=state,
        seated=att.seated,
        present=att.present,
        present_at_opening=None,
        absent=max(att.seated - att.present, 0),
        quorum=att.quorum,
        quorum_words=zh_fraction(att.quorum) or None,
        quorum_required=att.quorum_required,
        quorum_met=att.quorum_met,
        cast=None,
        voted=None,
        invalid=None,
        not_cast=None,
        ballots_electronic=None,
        ballots_paper=None,
        paper=None,
        counted=False,
        choices=choices,
        candidates=[],
        budget_cap=None,
        budget_used=None,
        threshold_votes=None,
        max_selected=None,
        ties=[],
        cut_tie=None,
        rounds=[],
    )
    if vs.state == SessionState.draft:
        return out
    if vs.state == SessionState.open:
        electronic = session.exec(
            select(func.count()).select_from(Ballot).where(Ballot.session_id == vs.id)
        ).one()
        paper = _paper(session, vs)
        on_paper = paper.valid if paper is not None else 0
        cast = electronic + on_paper
        voted = cast + (paper.invalid if paper is not None else 0)
        present = att.present
        if vs.mode == SessionMode.hall:  # late arrivals sign in and vote while it is open
            present = hall.present_count(session, vs)
        return out.model_copy(
            update={
                "present": present,
                "present_at_opening": att.present if vs.mode == SessionMode.hall else None,
                "absent": max(att.seated - present, 0),
                "cast": cast,
                "voted": voted,
                "invalid": paper.invalid if paper is not None else None,
                "not_cast": max(present - voted, 0),
                "ballots_electronic": electronic,
                "ballots_paper": on_paper if paper is not None else None,
                "paper": paper,
            }
        )
    return _closed(session, vs, out)


def _closed(session: Session, vs: VotingSession, out: HallState) -> HallState:
    """After the close: turnout from the kept result, and its counts once they are shown
    (with the selection its closed run-off rounds decided)."""
    assert vs.result is not None
    kept = parse_result(vs.result)
    seated = kept.electorate
    present = kept.present_at_close()
    electronic = kept.ballots_electronic if kept.ballots_electronic is not None else kept.cast
    # 投票: every ballot received (a void vote counts none, yet received them all).
    voted = electronic + (kept.paper.collected if kept.paper is not None else 0)
    paper = (
        ScreenPaper(
            issued=kept.paper.issued,
            collected=kept.paper.collected,
            valid=kept.paper.valid,
            invalid=kept.paper.invalid,
        )
        if kept.paper is not None
        else None
    )
    update: dict[str, object] = {
        "present": present,
        "present_at_opening": kept.attendance.present if kept.attendance is not None else None,
        "absent": max(seated - present, 0),
        "cast": kept.cast,
        "voted": voted,
        "invalid": kept.paper.invalid if kept.paper is not None else None,
        "not_cast": max(present - voted, 0),
        "ballots_electronic": kept.ballots_electronic,
        "ballots_paper": kept.ballots_paper,
        "paper": paper,
    }
    if not _shows_counts(vs):
        return out.model_copy(update=update)
    kept = runoff.with_rounds(session, vs=vs, result=kept)
    update.update(rule=kept.rule, rule_en=kept.rule_en)
    rows: list[ScreenRow] = []
    if isinstance(kept, SelectionResult):
        cut = kept.cut_tie
        waiting = set(cut.project_ids) if cut is not None and cut.pending else set()
        for p in kept.projects:
            counts = {"for": p.votes_for, "against": p.against, "abstain": p.abstain}
            rows.append(
                ScreenRow(
                    project_id=p.project_id,
                    title=p.title,
                    title_en=p.title_en,
                    budget=p.budget,
                    counts=counts,
                    not_voted=kept.not_voted(sum(counts.values())),
                    passed=p.passed,
                    selected=p.selected,
                    rank=p.rank,
                    grade=None,
                    pending=p.project_id in waiting,
                )
            )
        update.update(
            budget_cap=kept.budget_cap,
            budget_used=kept.budget_used,
            threshold_votes=kept.threshold_votes,
            max_selected=kept.max_selected,
            ties=[
                ScreenTie(
                    project_ids=t.project_ids,
                    votes_for=t.votes_for,
                    text=t.text,
                    text_en=t.text_en,
                )
                for t in kept.ties
            ],
            cut_tie=(
                ScreenCutTie(
                    project_ids=cut.project_ids,
                    votes_for=cut.votes_for,
                    places=cut.places,
                    pending=cut.pending,
                )
                if cut is not None
                else None
            ),
        )
    else:
        for s in kept.projects:
            counts = {
                "satisfied": s.satisfied,
                "basically_satisfied": s.basically_satisfied,
                "dissatisfied": s.dissatisfied,
            }
            rows.append(
                ScreenRow(
                    project_id=s.project_id,
                    title=s.title,
                    title_en=s.title_en,
                    budget=s.budget,
                    counts=counts,
                    not_voted=kept.not_voted(sum(counts.values())),
                    passed=None,
                    selected=None,
                    rank=None,
                    grade=s.grade,
                    pending=False,
                )
            )
    update.update(
        counted=True,
        void=kept.void,
        candidates=rows,
        rounds=[
            ScreenRound(
                session_id=r.session_id,
                project_ids=r.project_ids,
                places=r.places,
                selected=r.selected,
                counts=r.counts,
            )
            for r in kept.rounds
        ],
    )
    return out.model_copy(update=update)
