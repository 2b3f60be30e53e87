"""Run-off rounds (差额票决的再次投票): equal "for" votes at the cut line decided by another vote.

A selection session whose ``on_tie`` is "runoff" does not settle the first tie that decides
who is selected (the cut line) by the published tie-breaks: its count holds the tied
candidates, and everything ranked below them, as undecided (``cut_tie.pending``). An officer
then starts a run-off: a new session of the same kind and mode among exactly the tied
candidates, for the places and the budget left at their turn, with the same electorate and
the attendance carried over. In a run-off the threshold is not applied again (every candidate
passed it in the first round): the most "for" votes win, as the election law's "以得票多的当选".
A run-off that ties again at its own cut line can have its own run-off.

The counted result of every round stays as it was counted at its close. The decided result is
a view (``with_rounds``): the first round's counts ranked again with the run-offs' rankings
among the tied, so the budget left and the projects below the tie follow from the same rule.
Publishing a session publishes that view and its rounds, and needs every round closed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import insert, update
from sqlmodel import Session, col, select

from service import audit
from service.errors import Conflict
from surveys.voting import rules
from surveys.voting.hall_models import Attendance
from surveys.voting.models import (
    SessionDeputy,
    SessionKind,
    SessionProject,
    SessionState,
    VotingSession,
)
from surveys.voting.schemas import (
    CutTieOut,
    RoundOut,
    SatisfactionResult,
    SelectionResult,
    TieOut,
    parse_result,
)

ON_TIE = ("rule", "runoff")
_COUNTED = (SessionState.closed, SessionState.published)


class NoTieToDecide(Conflict):
    """The session's result has no tie at the cut line that awaits a run-off."""


# --- the count: the cut line and what it holds undecided (pure) ------------------------------


@dataclass
class Outcome:
    """A selection under the rule, with the tie at the cut line and what it leaves open."""

    selection: rules.Selection[int]
    cut: CutTieOut | None
    budget_used: int  # of the selected that are decided
    ties: list[rules.Tie[int]]  # ties the automatic rule settled
    # Held undecided while a run-off is awaited: "runoff" (tied at the cut line) or
    # "undecided" (ranked below it: the budget or places left for it depend on the run-off).
    held: dict[int, str] = field(default_factory=dict)

    def selected(self, row: rules.Row[int]) -> bool:
        return row.selected and row.id not in self.held

    def reason(self, row: rules.Row[int]) -> str:
        return self.held.get(row.id, row.reason.value)


def decide(
    candidates: Sequence[rules.Candidate[int]],
    config: rules.RuleConfig,
    *,
    electorate: int,
    cast: int,
    on_tie: str,
    order: Mapping[int, int] | None = None,
) -> Outcome:
    """Select under the rule (``order``: the run-offs' rankings among the tied) and find the
    tie at the cut line: the first tie whose order decides who is selected."""
    sel = rules.select(candidates, config, electorate=electorate, cast=cast, order=order)
    if not sel.ties:
        return Outcome(sel, None, sel.budget_used, sel.ties)
    tie = sel.ties[0]  # ties come in ranking order: the first is where selection first hinges
    group = set(tie.ids)
    cost = {c.id: c.cost for c in candidates}
    used = taken = 0
    for row in sel.rows:
        if row.id in group:
            break
        if row.selected:
            used, taken = used + cost[row.id], taken + 1
    places = None
    if config.max_selected is not None and config.max_selected - taken < len(tie.ids):
        places = config.max_selected - taken
    pending = on_tie == "runoff"
    cut = CutTieOut(
        project_ids=list(tie.ids),
        votes_for=tie.votes_for,
        places=places,
        budget_left=config.budget - used,
        pending=pending,
    )
    if not pending:
        return Outcome(sel, cut, sel.budget_used, sel.ties)
    held: dict[int, str] = {}
    for row in sel.rows:
        if row.id in group:
            held[row.id] = "runoff"
        elif held and row.passed:
            held[row.id] = "undecided"
    return Outcome(sel, cut, used, [], held)


def round_config(config: rules.RuleConfig) -> rules.RuleConfig:
    """A run-off's rule: its own budget and places, and no threshold (passed in round one)."""
    return replace(config, threshold=rules.Threshold(rules.ThresholdKind.none))


def tie_out(tie: rules.Tie[int]) -> TieOut:
    """A tie the automatic rule settled, for the result."""
    return TieOut(
        project_ids=tie.ids,
        votes_for=tie.votes_for,
        settled_by=tie.settled_by,
        text=rules.tie_words(tie),
        text_en=rules.tie_words(tie, "en"),
    )


def rule_text(
    cfg: Mapping[str, Any], config: rules.RuleConfig, *, electorate: int, cast: int, lang: str
) -> str:
    """The rule of a counted session in words: a run-off's own, or the rule and its tie policy."""
    en = lang == "en"
    parent = cfg.get("runoff_of")
    if parent is None:
        text = rules.rule_text(config, electorate=electorate, cast=cast, lang=lang)
        if cfg.get("on_tie", "rule") != "runoff":
            return text
        if en:
            return text + (
                ' Projects with equal "for" votes at the cut line, whose order decides who is '
                "selected, are not ordered by those tie-breaks: the deputies vote again among "
                'them (a run-off), and the most "for" votes win.'
            )
        return text + (
            "但入选线上票数相同、其先后决定能否入选的项目，不按上述顺序决定，"
            "而由代表就票数相等的项目再次投票（决选），以赞成票多者入选。"
        )
    return _round_words(int(parent), len(cfg.get("projects", [])), config, lang)


def _round_words(parent: int, k: int, config: rules.RuleConfig, lang: str) -> str:
    places, budget = config.max_selected, f"{config.budget:,}"
    stop = config.on_no_fit == rules.OnNoFit.stop
    if lang == "en":
        parts = [
            f"A run-off among the {k} projects tied at the cut line of session {parent}. "
            "Each passed the threshold in the first round, so it is not applied again: the "
            'projects are ranked by "for" votes in this round and selected in that order '
            f"within the {budget} yuan left",
            f" and the {places} places left" if places is not None else "",
            "; a project that does not fit ends the selection."
            if stop
            else "; a project that does not fit is skipped.",
            ' If "for" votes tie again at the cut line, the tied projects go to another run-off.',
        ]
        return "".join(parts)
    return "".join(
        [
            f"本轮为第 {parent} 号投票入选线上票数相等的 {k} 个项目的再次投票（决选）。"
            "各项目已在首轮达到通过票数，本轮不再适用通过门槛：按本轮赞成票由多到少排序，"
            f"在剩余预算 {budget} 元",
            f"、剩余 {places} 个名额" if places is not None else "",
            "内依次入选；",
            "遇到放不下的项目即停止选择。" if stop else "放不下的项目跳过。",
            "本轮入选线上赞成票再次相同的，就这些项目再次投票。",
        ]
    )


# --- the decided result: the first round with its run-offs (a read) --------------------------


def runoffs_of(session: Session, vs: VotingSession) -> list[VotingSession]:
    """The run-off rounds started from a session, in order."""
    q = select(VotingSession).where(VotingSession.runoff_of_id == vs.id)
    return list(session.exec(q.order_by(col(VotingSession.id))))


def _tree(session: Session, vs: VotingSession) -> list[VotingSession]:
    """Every round below a session: its run-offs and theirs, depth first."""
    out: list[VotingSession] = []
    for child in runoffs_of(session, vs):
        out += [child, *_tree(session, child)]
    return out


def root_of(session: Session, vs: VotingSession) -> VotingSession:
    """The first round of the vote a run-off belongs to (the session itself if it is one)."""
    while vs.runoff_of_id is not None:
        parent = session.get(VotingSession, vs.runoff_of_id)
        assert parent is not None
        vs = parent
    return vs


def _candidates(result: SelectionResult) -> list[rules.Candidate[int]]:
    return [
        rules.Candidate(p.project_id, p.budget, p.votes_for, p.against, p.abstain, p.project_id)
        for p in result.projects
    ]


def _config(result: SelectionResult) -> rules.RuleConfig:
    """The rule a counted result applied (a run-off's result states its own)."""
    return rules.RuleConfig(
        budget=result.budget_cap,
        threshold=rules.Threshold.parse(result.threshold),
        on_no_fit=rules.OnNoFit(result.on_no_fit),
        max_selected=result.max_selected,
    )


def _round_out(vs: VotingSession, result: SelectionResult) -> RoundOut:
    selected = [p.project_id for p in result.projects if p.selected]
    return RoundOut(
        session_id=vs.id or 0,
        project_ids=[p.project_id for p in result.projects],
        places=result.max_selected if result.max_selected is not None else len(selected),
        selected=selected,
        counts={
            str(p.project_id): {"for": p.votes_for, "against": p.against, "abstain": p.abstain}
            for p in result.projects
        },
    )


def with_rounds(
    session: Session, *, vs: VotingSession, result: SelectionResult | SatisfactionResult
) -> SelectionResult | SatisfactionResult:
    """A counted result with its closed run-off rounds and the selection they decide."""
    if not isinstance(result, SelectionResult):
        return result
    order: dict[int, int] = {}
    rounds: list[RoundOut] = []
    for child in runoffs_of(session, vs):
        if child.state not in _COUNTED or child.result is None:
            continue
        counted = with_rounds(session, vs=child, result=parse_result(child.result))
        assert isinstance(counted, SelectionResult)
        rounds += [_round_out(child, counted), *counted.rounds]
        if counted.cut_tie is not None and counted.cut_tie.pending:
            break  # tied again: this round waits for its own run-off
        order.update({p.project_id: p.rank for p in counted.projects if p.rank is not None})
    if not rounds:
        return result
    outcome = decide(
        _candidates(result),
        _config(result),
        electorate=result.electorate,
        cast=result.cast,
        on_tie=result.on_tie,
        order=order,
    )
    kept = {p.project_id: p for p in result.projects}
    projects = [
        kept[r.id].model_copy(
            update={
                "passed": r.passed,
                "rank": r.rank,
                "selected": outcome.selected(r),
                "reason": outcome.reason(r),
            }
        )
        for r in outcome.selection.rows
    ]
    return result.model_copy(
        update={
            "projects": projects,
            "budget_used": outcome.budget_used,
            "ties": [tie_out(t) for t in outcome.ties],
            "cut_tie": outcome.cut,
            "rounds": rounds,
        }
    )


def awaits_runoff(result: SelectionResult | SatisfactionResult) -> bool:
    """True when a tie at the cut line is left to a run-off not yet decided."""
    cut = result.cut_tie if isinstance(result, SelectionResult) else None
    return cut is not None and cut.pending


def decided_result(session: Session, *, vs: VotingSession) -> SelectionResult | SatisfactionResult:
    """What publishing a session makes public: its result with every round decided (409 for
    a run-off on its own, a round not closed, or a tie still awaiting its run-off)."""
    if vs.runoff_of_id is not None:
        root = root_of(session, vs)
        raise Conflict(f"A run-off round is published with the session it decides ({root.id})")
    assert vs.result is not None
    for child in _tree(session, vs):
        if child.state != SessionState.closed or child.result is None:
            raise Conflict(f"Run-off round {child.id} is not closed yet")
        assert child.frozen_config is not None
        if rules.config_hash(child.frozen_config) != child.config_hash:
            raise Conflict(f"The frozen configuration of round {child.id} does not match its hash")
    result = with_rounds(session, vs=vs, result=parse_result(vs.result))
    if awaits_runoff(result):
        raise Conflict("The tie at the cut line awaits a run-off")
    return result


def publish_rounds(session: Session, *, vs: VotingSession) -> None:
    """Publish a session's run-off rounds with it (their results and ballots become public)."""
    for child in _tree(session, vs):
        child.state, child.published_at = SessionState.published, vs.published_at
        session.add(child)
    session.flush()


# --- starting a run-off ----------------------------------------------------------------------


def _lock(session: Session, vs: VotingSession) -> VotingSession:
    """The session row under an exclusive lock, so two officers cannot start two run-offs of
    one tie (SQLite has no row locks: a no-op write takes its write lock, as in sessions)."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(
            update(VotingSession)
            .where(col(VotingSession.id) == vs.id)
            .values(state=VotingSession.state)
        )
    locked = session.exec(
        select(VotingSession).where(VotingSession.id == vs.id).with_for_update()
    ).one()
    session.refresh(locked)
    return locked


def _round_number(session: Session, vs: VotingSession) -> int:
    root = root_of(session, vs)
    return len(_tree(session, root)) + 2  # round one is the root


def blocking_round(session: Session, vs: VotingSession) -> VotingSession | None:
    """A run-off of the session that still holds its tie: not counted yet, or tied again (a
    decided one settled an earlier tie)."""
    for child in runoffs_of(session, vs):
        if child.state not in _COUNTED or child.result is None:
            return child
        if awaits_runoff(with_rounds(session, vs=child, result=parse_result(child.result))):
            return child
    return None


def round_preview(vs: VotingSession, candidates: int) -> tuple[str, str]:
    """A run-off's rule in words before its vote (zh-CN, en)."""
    config = rules.RuleConfig(
        budget=vs.budget_cap,
        on_no_fit=rules.OnNoFit(vs.on_no_fit),
        max_selected=vs.max_selected,
    )
    parent = vs.runoff_of_id or 0
    zh = _round_words(parent, candidates, config, "zh-CN")
    return zh, _round_words(parent, candidates, config, "en")


def start_runoff(session: Session, *, vs: VotingSession, actor: str) -> VotingSession:
    """A draft run-off among the candidates tied at a closed session's cut line (admin).

    Same kind, mode, ballot method, quorum, threshold and electorate; places and budget are
    those left at the tie; the attendance is carried over so the quorum holds without a new
    sign-in. 409 when no tie awaits a run-off or one already exists.
    """
    vs = _lock(session, vs)
    if vs.state != SessionState.closed or vs.result is None:
        state = SessionState(vs.state).value
        raise Conflict(f"Only a closed session, not yet published, can have a run-off ({state})")
    result = with_rounds(session, vs=vs, result=parse_result(vs.result))
    if not isinstance(result, SelectionResult) or not awaits_runoff(result):
        raise NoTieToDecide("No tie at the cut line awaits a run-off")
    blocking = blocking_round(session, vs)
    if blocking is not None:
        raise Conflict(f"A run-off of this tie already exists (session {blocking.id})")
    cut = result.cut_tie
    assert cut is not None
    n = _round_number(session, vs)
    child = VotingSession(
        kind=SessionKind(vs.kind),
        title=f"{vs.title}（第{n}轮投票）"[:200],
        title_en=f"{vs.title_en} (round {n})"[:200] if vs.title_en else "",
        year=vs.year,
        budget_cap=cut.budget_left,
        max_selected=cut.places,
        # A ballot may say "for" to as many as there are places, as in the first round.
        max_for_per_ballot=cut.places if cut.places is not None else vs.max_for_per_ballot,
        threshold=vs.threshold,
        on_no_fit=vs.on_no_fit,
        mode=vs.mode,
        quorum=vs.quorum,
        ballot_method=vs.ballot_method,
        runoff_of_id=vs.id,
        on_tie=vs.on_tie,
    )
    session.add(child)
    session.flush()
    _copy_rows(session, vs, child, cut.project_ids)
    audit.record(
        session,
        actor=actor,
        action="voting_session.runoff",
        target=str(child.id),
        runoff_of=vs.id,
        projects=cut.project_ids,
        places=cut.places,
        budget=cut.budget_left,
    )
    return child


def _copy_rows(
    session: Session, parent: VotingSession, child: VotingSession, tied: list[int]
) -> None:
    """The tied candidates (in the first round's ballot order), the electorate and the
    attendance of the first round, into the run-off."""
    slate = session.exec(
        select(SessionProject.project_id)
        .where(SessionProject.session_id == parent.id, col(SessionProject.project_id).in_(tied))
        .order_by(col(SessionProject.position))
    )
    session.add_all(
        [
            SessionProject(session_id=child.id or 0, project_id=pid, position=i)
            for i, pid in enumerate(slate)
        ]
    )
    deputies = session.exec(
        select(SessionDeputy.user_id).where(SessionDeputy.session_id == parent.id)
    ).all()
    if deputies:
        session.execute(
            insert(SessionDeputy), [{"session_id": child.id, "user_id": u} for u in deputies]
        )
    present = session.exec(select(Attendance).where(Attendance.session_id == parent.id)).all()
    if present:
        session.execute(
            insert(Attendance),
            [
                {
                    "session_id": child.id,
                    "user_id": a.user_id,
                    "method": "carried",
                    "signed_in_by": a.signed_in_by,
                    "signed_in_at": a.signed_in_at,
                }
                for a in present
            ],
        )
    session.flush()
