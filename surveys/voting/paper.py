"""Paper ballots: sheets with serial numbers, handing them out, the hand count entered per
candidate or sheet by sheet, its reconciliation (发出 / 收回 / 有效 / 无效), and what the
count adds to the result.

The order of things (docs/hall.md): sheets are printed before or during the vote (serials
1..printed); while the session is open they are handed out (发出) and, once the ballot box is
closed, counted under the scrutineers and entered here; closing the session refuses until the
paper count is entered, and then counts electronic and paper ballots together (nothing when
more were collected than issued: the vote is void, surveys.voting.paper_void).
A sheet handed to a named deputy writes that deputy's ``voting_voter`` row, the same one-ballot
guard an electronic ballot writes; which serial a deputy took is never recorded.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from service import audit
from service.db import utcnow
from service.errors import Conflict, Invalid, NotFound, error_item
from service.models import User
from surveys.voting.ballots import require_signed_in
from surveys.voting.exceptions import AlreadyVoted
from surveys.voting.hall_models import PaperBallot, PaperCount
from surveys.voting.models import (
    SATISFACTION_CHOICES,
    SELECTION_CHOICES,
    BallotMethod,
    SessionDeputy,
    SessionKind,
    SessionState,
    Voter,
    VotingSession,
)
from surveys.voting.paper_cap import check_headcount
from surveys.voting.paper_schemas import (
    PaperBallotIn,
    PaperBallotOut,
    PaperCountIn,
    PaperIssue,
    PaperState,
)
from surveys.voting.paper_void import void_reason
from surveys.voting.schemas import PaperOut


def paper_choices(vs: VotingSession) -> tuple[str, ...]:
    return SELECTION_CHOICES if vs.kind == SessionKind.selection else SATISFACTION_CHOICES


def _slate(vs: VotingSession) -> list[int]:
    cfg = vs.frozen_config
    if cfg is None:
        return []
    return [int(p["project_id"]) for p in cfg["projects"]]


def paper_row(session: Session, vs: VotingSession, *, lock: bool = False) -> PaperCount | None:
    q = select(PaperCount).where(PaperCount.session_id == vs.id)
    if lock:
        q = q.with_for_update()
    return session.exec(q).first()


def _row_or_new(session: Session, vs: VotingSession) -> PaperCount:
    found = paper_row(session, vs, lock=True)
    if found is not None:
        return found
    row = PaperCount(session_id=vs.id or 0)
    session.add(row)
    session.flush()
    return row


def counted(row: PaperCount | None) -> bool:
    # The count is entered once, with its scrutineers; until then entered_by stays empty.
    return row is not None and row.entered_by != ""


def _state_now(session: Session, vs: VotingSession) -> SessionState:
    """The session's state under a shared lock: closing takes the row exclusively, so a
    paper write either commits before the close counts or sees the session closed."""
    state = session.exec(
        select(VotingSession.state).where(VotingSession.id == vs.id).with_for_update(read=True)
    ).one()
    return SessionState(state)


def _require_paper(vs: VotingSession) -> None:
    if vs.ballot_method == BallotMethod.electronic:
        raise Conflict(
            "这次票决只用电子表决，没有纸质选票 (the session's ballot method is electronic)"
        )


def _require_open(session: Session, vs: VotingSession, doing: str) -> None:
    state = _state_now(session, vs)
    if state != SessionState.open:
        raise Conflict(f"{doing} needs an open session (it is {state.value})")


def _require_not_counted(row: PaperCount | None) -> None:
    if counted(row):
        raise Conflict("纸质选票已经计票，不能再发出或录入 (the paper count has been entered)")


# --- sheets and handing them out --------------------------------------------------------------


def print_sheets(session: Session, *, vs: VotingSession, count: int, actor: str) -> range:
    """Record ``count`` more printed sheets and answer their serials (draft or open session)."""
    _require_paper(vs)
    state = _state_now(session, vs)
    if state not in (SessionState.draft, SessionState.open):
        raise Conflict(f"Sheets are printed before or during the vote (it is {state.value})")
    row = _row_or_new(session, vs)
    _require_not_counted(row)
    first = row.printed + 1
    row.printed += count
    session.add(row)
    session.flush()
    audit.record(
        session, actor=actor, action="paper.print", target=str(vs.id), first=first, last=row.printed
    )
    return range(first, row.printed + 1)


def issue_sheets(session: Session, *, vs: VotingSession, data: PaperIssue, actor: str) -> int:
    """Hand out sheets (发出): one to a named deputy, who then cannot vote electronically
    (409 if they already did), or a number at once in a paper-only session; never more, with
    the electronic ballots, than deputies present or seated (409, paper_cap). Answers 发出."""
    _require_paper(vs)
    if (data.username is None) == (data.count is None):
        raise Invalid.field(("body", "username"), "give either a deputy's username or a count")
    if data.count is not None and vs.ballot_method == BallotMethod.mixed:
        raise Invalid.field(
            ("body", "username"),
            "in a mixed session each sheet goes to a named deputy, who cannot also vote "
            "electronically",
        )
    _require_open(session, vs, "Handing out sheets")
    row = _row_or_new(session, vs)
    _require_not_counted(row)
    n = data.count or 1
    if row.issued + n > row.printed:
        raise Conflict(
            f"已印制选票 {row.printed} 张，已发出 {row.issued} 张，不够再发 {n} 张 "
            f"(printed {row.printed}, issued {row.issued}: print more sheets first)"
        )
    if data.username is not None:
        _mark_voter(session, vs, data.username)
    check_headcount(session, vs, issued=row.issued, more=n)  # 409: more sheets than deputies
    row.issued += n
    session.add(row)
    session.flush()
    detail: dict[str, Any] = {"issued": row.issued}
    if data.username is not None:
        detail["deputy"] = data.username
    else:
        detail["count"] = n
    audit.record(session, actor=actor, action="paper.issue", target=str(vs.id), **detail)
    return row.issued


def _mark_voter(session: Session, vs: VotingSession, username: str) -> None:
    user = session.exec(select(User).where(User.username == username)).first()
    member = user is not None and session.get(SessionDeputy, (vs.id, user.id)) is not None
    if user is None or not member:
        raise Invalid.field(("body", "username"), f"'{username}' is not in the electorate")
    require_signed_in(session, vs=vs, user=user)
    session.add(Voter(session_id=vs.id or 0, user_id=user.id or 0))
    try:
        session.flush()
    except IntegrityError as exc:  # the request's transaction is rolled back
        raise AlreadyVoted(
            f"代表 {username} 已经投票，不能再领取纸质选票 ({username} has already voted)"
        ) from exc


# --- sheets entered one by one ----------------------------------------------------------------


def ballot_validity(vs: VotingSession, printed: int, serial: int, marks: dict[int, str]) -> str:
    """Why a sheet is invalid, in words (zh-CN), or "" for a valid one."""
    if serial > printed:
        return f"编号 {serial} 不在印发的选票编号 1–{printed} 之内"
    if not marks:
        return "未作任何标记（空白票）"
    limit = vs.max_for_per_ballot
    n_for = sum(1 for m in marks.values() if m == "for")
    if vs.kind == SessionKind.selection and limit is not None and n_for > limit:
        return f"赞成 {n_for} 项，超过每张选票最多 {limit} 项"
    return ""


def _marks(vs: VotingSession, raw: dict[str, str]) -> dict[int, str]:
    """The sheet's marks by project; a mark the sheet cannot carry is a typing error (422)."""
    slate, allowed = _slate(vs), paper_choices(vs)
    errors, marks = [], {}
    for key, value in raw.items():
        pid = int(key) if key.strip().isdigit() else -1
        if pid not in slate:
            errors.append(error_item(["body", "marks", key], "not a project on this ballot"))
        elif value not in allowed:
            errors.append(
                error_item(["body", "marks", key], "must be one of: " + ", ".join(allowed))
            )
        else:
            marks[pid] = value
    if errors:
        raise Invalid(errors)
    return marks


def enter_ballot(
    session: Session, *, vs: VotingSession, data: PaperBallotIn, actor: str
) -> PaperBallotOut:
    """Enter one sheet from the ballot box by its serial; the product decides its validity
    (409 for a serial entered already)."""
    _require_paper(vs)
    marks = _marks(vs, data.marks)
    _require_open(session, vs, "Entering paper ballots")
    row = _row_or_new(session, vs)
    _require_not_counted(row)
    if session.get(PaperBallot, (vs.id, data.serial)) is not None:
        raise Conflict(
            f"编号 {data.serial} 的选票已经录入 (serial {data.serial} was entered already)"
        )
    reason = ballot_validity(vs, row.printed, data.serial, marks)
    ballot = PaperBallot(
        session_id=vs.id or 0,
        serial=data.serial,
        marks={str(p): m for p, m in marks.items()},
        valid=not reason,
        invalid_reason=reason,
    )
    session.add(ballot)
    try:
        session.flush()
    except IntegrityError as exc:  # entered at the same moment from another desk
        raise Conflict(f"编号 {data.serial} 的选票已经录入 (serial {data.serial})") from exc
    audit.record(
        session,
        actor=actor,
        action="paper.ballot",
        target=str(vs.id),
        serial=data.serial,
        valid=ballot.valid,
        reason=reason,
    )
    return PaperBallotOut(
        serial=ballot.serial, marks=ballot.marks, valid=ballot.valid, invalid_reason=reason
    )


def delete_ballot(session: Session, *, vs: VotingSession, serial: int, actor: str) -> None:
    """Take back a sheet entered by mistake, before the count (404 for a serial not entered)."""
    _require_paper(vs)
    _require_open(session, vs, "Correcting paper ballots")
    _require_not_counted(paper_row(session, vs, lock=True))
    ballot = session.get(PaperBallot, (vs.id, serial))
    if ballot is None:
        raise NotFound(f"编号 {serial} 的选票没有录入 (serial {serial} was not entered)")
    session.delete(ballot)
    session.flush()
    audit.record(
        session, actor=actor, action="paper.ballot_delete", target=str(vs.id), serial=serial
    )


def _ballots(session: Session, vs: VotingSession) -> list[PaperBallot]:
    q = select(PaperBallot).where(PaperBallot.session_id == vs.id)
    return list(session.exec(q.order_by(col(PaperBallot.serial))))


def entered_ballots(session: Session, *, vs: VotingSession) -> list[PaperBallotOut]:
    """The sheets entered so far, by serial."""
    return [
        PaperBallotOut(
            serial=b.serial, marks=b.marks, valid=b.valid, invalid_reason=b.invalid_reason
        )
        for b in _ballots(session, vs)
    ]


# --- the count and its reconciliation -----------------------------------------------------------


def _sum_ballots(vs: VotingSession, rows: list[PaperBallot]) -> dict[str, dict[str, int]]:
    counts = {str(p): dict.fromkeys(paper_choices(vs), 0) for p in _slate(vs)}
    for b in rows:
        if b.valid:
            for pid, mark in b.marks.items():
                counts[pid][mark] += 1
    return counts


def _given_counts(vs: VotingSession, data: PaperCountIn) -> dict[str, dict[str, int]]:
    if vs.kind != SessionKind.selection:
        raise Invalid.field(("body", "entry"), "per-candidate totals are for selection sessions")
    if data.valid is None or data.invalid is None or data.counts is None:
        missing = [k for k in ("valid", "invalid", "counts") if getattr(data, k) is None]
        raise Invalid([error_item(["body", k], "required for per_candidate") for k in missing])
    slate = [str(p) for p in _slate(vs)]
    errors = [
        error_item(["body", "counts", key], "not a project on this ballot")
        for key in data.counts
        if key not in slate
    ] + [
        error_item(["body", "counts", key], "every project's totals are required")
        for key in slate
        if key not in data.counts
    ]
    if errors:
        raise Invalid(errors)
    return {
        key: {"for": c.votes_for, "against": c.against, "abstain": c.abstain}
        for key, c in data.counts.items()
    }


def reconciliation_problems(
    *, collected: int, valid: int, invalid: int, counts: dict[str, dict[str, int]]
) -> list[str]:
    """Why a paper count is an entry error, in words (zh-CN with English), or []; more
    collected than issued is no entry error but a void vote (paper_void), kept as counted."""
    problems = []
    if valid + invalid != collected:
        problems.append(
            f"有效 {valid} + 无效 {invalid} ≠ 收回 {collected} "
            f"(valid + invalid must equal collected)"
        )
    for pid, by_choice in counts.items():
        marked = sum(by_choice.values())
        if marked > valid:
            problems.append(
                f"项目 {pid} 的表决数 {marked} 多于有效票 {valid} "
                f"(project {pid}: {marked} marks > {valid} valid ballots)"
            )
    return problems


def enter_count(
    session: Session, *, vs: VotingSession, data: PaperCountIn, actor: str
) -> PaperState:
    """Enter the hand count under the scrutineers' names (409 naming the numbers for an entry
    error; more collected than issued is kept, voiding the vote); it can be corrected until
    the session closes."""
    _require_paper(vs)
    _require_open(session, vs, "Entering the paper count")
    row = _row_or_new(session, vs)
    rows = _ballots(session, vs)
    if data.entry == "by_ballot":
        if len(rows) != data.collected:
            raise Conflict(
                f"收回 {data.collected} 张，已逐张录入 {len(rows)} 张 "
                f"(collected {data.collected}, entered {len(rows)}: enter every sheet)"
            )
        valid = sum(1 for b in rows if b.valid)
        invalid, counts = len(rows) - valid, _sum_ballots(vs, rows)
    else:
        if rows:
            raise Conflict(
                f"已逐张录入 {len(rows)} 张选票，请按逐张录入计票 "
                f"({len(rows)} sheets were entered one by one: use entry by_ballot)"
            )
        counts = _given_counts(vs, data)
        valid, invalid = data.valid or 0, data.invalid or 0
    problems = reconciliation_problems(
        collected=data.collected, valid=valid, invalid=invalid, counts=counts
    )
    if problems:
        raise Conflict("；".join(problems))
    row.entry, row.collected, row.valid, row.invalid = data.entry, data.collected, valid, invalid
    row.counts, row.scrutineers = counts, data.scrutineers
    row.entered_by, row.entered_at = actor, utcnow()
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="paper.count",
        target=str(vs.id),
        entry=data.entry,
        issued=row.issued,
        collected=row.collected,
        valid=valid,
        invalid=invalid,
        scrutineers=data.scrutineers,
        void=void_reason(issued=row.issued, collected=row.collected),
    )
    return paper_state(session, vs=vs)


def _missing(vs: VotingSession, row: PaperCount | None) -> list[str]:
    """What keeps the session from closing: a paper count owed and not entered."""
    if vs.ballot_method == BallotMethod.electronic or counted(row):
        return []
    if vs.ballot_method == BallotMethod.mixed and (row is None or row.issued == 0):
        return []  # a mixed session whose sheets were never handed out counts none
    return ["纸质选票尚未计票 (the paper count is not entered)"]


def paper_state(session: Session, *, vs: VotingSession) -> PaperState:
    """The reconciliation as it stands, and what still keeps the session from closing."""
    row = paper_row(session, vs)
    n_entered, n_valid = session.exec(
        select(func.count(), func.count().filter(col(PaperBallot.valid)))
        .select_from(PaperBallot)
        .where(PaperBallot.session_id == vs.id)
    ).one()
    done = counted(row) and row is not None
    problems = _missing(vs, row)
    return PaperState(
        session_id=vs.id or 0,
        ballot_method=BallotMethod(vs.ballot_method).value,
        printed=row.printed if row else 0,
        issued=row.issued if row else 0,
        entered=n_entered,
        entered_valid=n_valid,
        counted=done,
        entry=row.entry if done and row else None,
        collected=row.collected if done and row else None,
        valid=row.valid if done and row else None,
        invalid=row.invalid if done and row else None,
        counts=row.counts if done and row else {},
        scrutineers=row.scrutineers if row else [],
        entered_by=row.entered_by if row else "",
        reconciled=not problems,
        problems=problems,
    )


def check_can_close(session: Session, *, vs: VotingSession) -> None:
    """Refuse to close (and count) a session whose paper ballots are not counted (409)."""
    if vs.ballot_method == BallotMethod.electronic:
        return
    state = paper_state(session, vs=vs)
    if state.problems:
        raise Conflict("不能结束表决：" + "；".join(state.problems))


# --- what the count adds to the result ----------------------------------------------------------


def paper_tallies(
    session: Session, vs: VotingSession
) -> tuple[dict[int, dict[str, int]], PaperOut | None]:
    """The valid paper ballots' counts per candidate and choice, and the reconciliation
    (empty and None when the session has no paper count)."""
    row = paper_row(session, vs)
    if row is None or not counted(row):
        return {}, None
    tallies: dict[int, dict[str, int]] = defaultdict(dict)
    for pid, by_choice in row.counts.items():
        for choice, n in by_choice.items():
            if n:
                tallies[int(pid)][choice] = int(n)
    out = PaperOut(
        entry=row.entry,
        issued=row.issued,
        collected=row.collected,
        valid=row.valid,
        invalid=row.invalid,
        scrutineers=list(row.scrutineers),
    )
    return dict(tallies), out


def approval_ballots(session: Session, vs: VotingSession) -> list[list[int]]:
    """The "for" marks of each valid sheet entered one by one (Equal Shares takes them with
    the electronic ballots); a count entered per candidate has no sheets to give."""
    row = paper_row(session, vs)
    if not counted(row) or row is None or row.entry != "by_ballot":
        return []
    return [
        sorted(int(p) for p, m in b.marks.items() if m == "for")
        for b in _ballots(session, vs)
        if b.valid
    ]


def equal_shares_note(out: PaperOut | None) -> str:
    """What Equal Shares says of the paper ballots it did or did not take."""
    if out is None:
        return ""
    if out.entry == "by_ballot":
        return " Valid paper ballots, entered one by one, are among its ballots."
    return (
        " Paper ballots counted as per-candidate totals are not among its ballots (there are"
        " no sheets to give it); it reflects the electronic ballots only."
    )
