"""Counting: the tally under the frozen rule (Equal Shares beside it), the results view with
its visibility, the recount, and the public ballots."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from service.db import utcnow
from service.errors import Conflict
from service.models import Role, User
from surveys.voting import hall, paper, rules, runoff
from surveys.voting.ballots import approval_ballots, turnout
from surveys.voting.equal_shares import equal_shares
from surveys.voting.models import (
    SATISFACTION_CHOICES,
    Ballot,
    BallotMark,
    PublicBallot,
    SessionKind,
    SessionState,
    Voter,
    VotingSession,
)
from surveys.voting.paper_void import paper_void_reason, void_result
from surveys.voting.schemas import (
    EqualSharesOut,
    SatisfactionResult,
    SatisfactionRow,
    SelectionResult,
    SelectionRow,
    VoteResult,
    parse_result,
)


def electronic_tallies(session: Session, vs: VotingSession) -> dict[int, dict[str, int]]:
    """Each project's electronic marks by choice, from the ballots kept."""
    rows = session.exec(
        select(BallotMark.project_id, BallotMark.choice, func.count())
        .join(Ballot, col(Ballot.id) == col(BallotMark.ballot_id))
        .where(Ballot.session_id == vs.id)
        .group_by(col(BallotMark.project_id), col(BallotMark.choice))
    )
    out: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for pid, choice, n in rows:
        out[pid][choice] = n
    return out


def count(session: Session, *, vs: VotingSession) -> VoteResult:
    """Count the ballots under the frozen rule (and Equal Shares beside it)."""
    cfg = vs.frozen_config
    assert cfg is not None
    tallies = electronic_tallies(session, vs)
    electronic = turnout(session, vs=vs).cast
    paper_counts, paper_out = paper.paper_tallies(session, vs)
    for pid, by_choice in paper_counts.items():
        for choice, n in by_choice.items():
            tallies[pid][choice] += n
    cast = electronic + (paper_out.valid if paper_out is not None else 0)
    void = paper_void_reason(paper_out)
    if void:  # the vote is void: nothing is counted, electronic ballots included
        tallies, cast = defaultdict(lambda: defaultdict(int)), 0
    voters = session.exec(
        select(func.count()).select_from(Voter).where(Voter.session_id == vs.id)
    ).one()
    electorate = int(cfg["electorate_size"])
    items = {int(p["project_id"]): p for p in cfg["projects"]}
    base: dict[str, Any] = {
        "session_id": vs.id,
        "title": vs.title,
        "title_en": vs.title_en,
        "year": vs.year,
        "electorate": electorate,
        "cast": cast,
        "voters_recorded": voters if not cfg.get("imported") else cast,
        "config_hash": vs.config_hash,
        "counted_at": utcnow().isoformat(),
        "mode": cfg.get("mode", "remote"),
        "attendance": hall.attendance_out(vs),
        "attendance_at_close": hall.attendance_at_close(session, vs),
        "paper": paper_out,
    }
    # Hall votes and paper or mixed ones say how many ballots were of each kind.
    if paper_out is not None or "ballot_method" in cfg:
        base["ballots_electronic"] = electronic
        base["ballots_paper"] = paper_out.valid if paper_out is not None else 0
    if vs.kind == SessionKind.satisfaction:
        counted: VoteResult = _count_satisfaction(base, items, tallies, electorate)
    else:
        counted = _count_selection(session, vs, cfg, base, items, tallies, electorate, cast)
    return void_result(counted, void) if void else counted


def _count_satisfaction(
    base: dict[str, Any],
    items: dict[int, dict[str, Any]],
    tallies: dict[int, dict[str, int]],
    electorate: int,
) -> SatisfactionResult:
    projects = []
    for pid, item in items.items():
        t = tallies.get(pid, {})
        s, b, d = (t.get(k, 0) for k in SATISFACTION_CHOICES)
        projects.append(
            SatisfactionRow(
                project_id=pid,
                title=item["title"],
                title_en=item["title_en"],
                budget=item["budget"],
                satisfied=s,
                basically_satisfied=b,
                dissatisfied=d,
                grade=rules.grade(satisfied=s, basically_satisfied=b, electorate=electorate),
            )
        )
    half = electorate // 2 + 1
    return SatisfactionResult(
        **base,
        projects=projects,
        rule=(
            f"“满意”票超过全体代表（{electorate} 名）半数（至少 {half} 票）评为满意；否则“满意”与"
            f"“基本满意”票合计超过半数评为基本满意；否则评为不满意。"
        ),
        rule_en=(
            f'A project is graded "satisfied" when its "satisfied" votes are more than half of all '
            f'{electorate} deputies (at least {half}); otherwise "basically satisfied" when '
            f'"satisfied" and "basically satisfied" together are; otherwise "dissatisfied".'
        ),
        ties=[],
    )


def rule_config(cfg: dict[str, Any]) -> rules.RuleConfig:
    """The selection rule of a frozen configuration."""
    return rules.RuleConfig(
        budget=int(cfg["budget_cap"]),
        threshold=rules.Threshold.parse(cfg["threshold"]),
        on_no_fit=rules.OnNoFit(cfg["on_no_fit"]),
        max_selected=cfg["max_selected"],
    )


def _count_selection(
    session: Session,
    vs: VotingSession,
    cfg: dict[str, Any],
    base: dict[str, Any],
    items: dict[int, dict[str, Any]],
    tallies: dict[int, dict[str, int]],
    electorate: int,
    cast: int,
) -> SelectionResult:
    config = rule_config(cfg)
    if cfg.get("runoff_of") is not None:
        config = runoff.round_config(config)
    on_tie = cfg.get("on_tie", "rule")
    cands = [
        rules.Candidate(
            pid,
            int(item["budget"]),
            tallies.get(pid, {}).get("for", 0),
            tallies.get(pid, {}).get("against", 0),
            tallies.get(pid, {}).get("abstain", 0),
            position=pid,
        )
        for pid, item in items.items()
    ]
    by_id = {c.id: c for c in cands}
    outcome = runoff.decide(cands, config, electorate=electorate, cast=cast, on_tie=on_tie)
    sel = outcome.selection
    mes = equal_shares(
        {pid: int(item["budget"]) for pid, item in items.items()},
        approval_ballots(session, vs) + paper.approval_ballots(session, vs),
        config.budget,
    )
    mes_set = set(mes.selected)
    projects = []
    for row in sel.rows:
        c = by_id[row.id]
        item = items[row.id]
        projects.append(
            SelectionRow(
                project_id=row.id,
                title=item["title"],
                title_en=item["title_en"],
                category=item["category"],
                budget=c.cost,
                votes_for=c.votes_for,
                against=c.votes_against,
                abstain=c.votes_abstain,
                passed=row.passed,
                rank=row.rank,
                selected=outcome.selected(row),
                reason=outcome.reason(row),
                selected_equal_shares=row.id in mes_set,
            )
        )
    return SelectionResult(
        **base,
        projects=projects,
        budget_cap=config.budget,
        budget_used=outcome.budget_used,
        threshold=config.threshold.as_json(),
        threshold_votes=sel.required_votes,
        on_no_fit=config.on_no_fit.value,
        max_selected=config.max_selected,
        max_for_per_ballot=cfg["max_for_per_ballot"],
        rule=runoff.rule_text(cfg, config, electorate=electorate, cast=cast, lang="zh-CN"),
        rule_en=runoff.rule_text(cfg, config, electorate=electorate, cast=cast, lang="en"),
        ties=[runoff.tie_out(t) for t in outcome.ties],
        on_tie=on_tie,
        cut_tie=outcome.cut,
        equal_shares=EqualSharesOut(
            selected=mes.selected,
            budget_used=sum(by_id[p].cost for p in mes.selected),
            mes=mes.mes,
            greedy=mes.greedy,
            per_voter_budget=str(mes.per_voter_budget),
            prefer_mes=mes.prefer_mes,
            prefer_greedy=mes.prefer_greedy,
            used_greedy=mes.used_greedy,
            method=(
                'Method of Equal Shares on the "for" marks (cost utilities), integral '
                '"add one" completion and the comparison step, as equalshares.net; '
                "for comparison only: the session's rule decides."
                + paper.equal_shares_note(base["paper"])
            ),
        ),
    )


def results(session: Session, *, vs: VotingSession, user: User | None) -> VoteResult:
    """The counted result: never while open; after closing to admins; public once published."""
    if vs.state in (SessionState.draft, SessionState.open):
        raise Conflict(
            "No results while the session is " + SessionState(vs.state).value + "; only turnout"
        )
    if vs.state == SessionState.closed and (user is None or user.role != Role.admin):
        raise Conflict("The results are not published yet")
    assert vs.result is not None
    kept = runoff.with_rounds(session, vs=vs, result=parse_result(vs.result))
    view = {"state": SessionState(vs.state).value, "published_at": vs.published_at}
    return kept.model_copy(update=view)


# What a recount may differ in without the result differing.
# Recorded at the close, not counted: the scrutineers (监票人) are named, not found again.
_NOT_COUNTED = {"counted_at", "state", "published_at", "scrutineers"}


def recount(session: Session, *, vs: VotingSession) -> tuple[bool, VoteResult]:
    """Count again from the stored ballots; True when it agrees with the kept result."""
    if vs.result is None:
        raise Conflict("The session has not been counted yet")
    fresh = count(session, vs=vs)
    # A result kept before 实到 at the close was recorded does not state it.
    skip = _NOT_COUNTED | (
        {"attendance_at_close"} if "attendance_at_close" not in vs.result else set()
    )
    keep = parse_result(vs.result).model_dump(mode="json", exclude=skip)
    again = fresh.model_dump(mode="json", exclude=skip)
    return keep == again, fresh


def public_ballots(session: Session, *, vs: VotingSession) -> list[PublicBallot]:
    """Every ballot under its receipt's hash, once the session is published."""
    if vs.state != SessionState.published:
        raise Conflict("Ballots are public only after publication")
    marks: dict[str, dict[str, str]] = defaultdict(dict)
    for bid, pid, choice in session.exec(
        select(BallotMark.ballot_id, BallotMark.project_id, BallotMark.choice)
        .join(Ballot, col(Ballot.id) == col(BallotMark.ballot_id))
        .where(Ballot.session_id == vs.id)
    ):
        marks[bid][str(pid)] = choice
    rows = session.exec(
        select(Ballot.id, Ballot.receipt_hash)
        .where(Ballot.session_id == vs.id)
        .order_by(col(Ballot.receipt_hash))
    )
    return [PublicBallot(receipt_hash=h, choices=marks.get(bid, {})) for bid, h in rows]
