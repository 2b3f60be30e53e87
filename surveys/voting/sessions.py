"""Voting sessions: configuration (slate, electorate, rule), the state machine draft -> open
-> closed -> published, and the configuration frozen and hashed at opening."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, update
from sqlmodel import Session, col, select

from service import audit
from service.db import utcnow
from service.errors import Conflict, Invalid, error_item
from service.models import Role, User
from surveys.units.models import Unit, UnitCreate, UnitKind
from surveys.units.service import create_unit, unit_by_code
from surveys.voting import hall, paper, rules, runoff, scrutiny
from surveys.voting.ballots import electorate_size, reshuffle_ballots, reshuffle_voters
from surveys.voting.models import (
    BallotMethod,
    Project,
    ProjectStatus,
    SessionCreate,
    SessionDeputy,
    SessionKind,
    SessionMode,
    SessionProject,
    SessionPublic,
    SessionState,
    SessionUpdate,
    SlateItem,
    VotingSession,
)
from surveys.voting.projects import IMPLEMENTATION, described, units_by_id
from surveys.voting.results import count
from surveys.voting.schemas import SelectionResult, as_stored


def _parse_threshold(value: Any, loc: tuple[str, ...] = ("body", "threshold")) -> rules.Threshold:
    try:
        return rules.Threshold.parse(value)
    except ValueError as exc:
        raise Invalid.field(loc, str(exc)) from exc


def _resolve_projects(session: Session, ids: list[int], kind: SessionKind) -> list[Project]:
    if len(set(ids)) != len(ids):
        raise Invalid.field(("body", "project_ids"), "a project is listed twice")
    found = {p.id: p for p in session.exec(select(Project).where(col(Project.id).in_(ids)))}
    errors = []
    for i, pid in enumerate(ids):
        p = found.get(pid)
        if p is None:
            errors.append(error_item(["body", "project_ids", i], f"unknown project {pid}"))
        elif kind == SessionKind.satisfaction and p.status not in IMPLEMENTATION:
            errors.append(error_item(["body", "project_ids", i], f"project {pid} was not selected"))
        elif kind == SessionKind.selection and p.status in IMPLEMENTATION:
            errors.append(
                error_item(["body", "project_ids", i], f"project {pid} is already selected")
            )
    if errors:
        raise Invalid(errors)
    return [found[i] for i in ids]


def _resolve_deputies(session: Session, names: list[str]) -> list[User]:
    if len(set(names)) != len(names):
        raise Invalid.field(("body", "deputy_usernames"), "a deputy is listed twice")
    found: dict[str, User] = {}
    for start in range(0, len(names), 500):
        chunk = names[start : start + 500]
        for u in session.exec(select(User).where(col(User.username).in_(chunk))):
            found[u.username] = u
    errors = []
    for i, name in enumerate(names):
        dep = found.get(name)
        if dep is None or dep.role != Role.deputy or not dep.is_active:
            errors.append(
                error_item(
                    ["body", "deputy_usernames", i], f"'{name}' is not an active deputy account"
                )
            )
    if errors:
        raise Invalid(errors)
    return [found[n] for n in names]


def _check_selection_numbers(kind: SessionKind, budget_cap: int, n_projects: int) -> None:
    if kind == SessionKind.selection and budget_cap < 1:
        raise Invalid.field(("body", "budget_cap"), "a selection session needs a budget cap")


def create_session(session: Session, *, data: SessionCreate, actor: str) -> VotingSession:
    """Create a draft voting session with its slate and electorate (admin)."""
    threshold = _parse_threshold(data.threshold)
    _check_selection_numbers(data.kind, data.budget_cap, len(data.project_ids))
    projects = _resolve_projects(session, data.project_ids, data.kind)
    deputies = _resolve_deputies(session, data.deputy_usernames)
    vs = VotingSession(
        kind=data.kind,
        title=data.title.strip(),
        title_en=data.title_en.strip(),
        year=data.year,
        budget_cap=data.budget_cap,
        max_selected=data.max_selected,
        max_for_per_ballot=data.max_for_per_ballot,
        threshold=threshold.as_json(),
        on_no_fit=data.on_no_fit,
        mode=data.mode,
        quorum=hall.quorum_of(data.mode, data.quorum),
        ballot_method=data.ballot_method,
        on_tie=data.on_tie,
    )
    session.add(vs)
    session.flush()
    _set_slate(session, vs, projects)
    _set_electorate(session, vs, deputies)
    audit.record(
        session,
        actor=actor,
        action="voting_session.create",
        target=str(vs.id),
        kind=SessionKind(vs.kind).value,
        projects=len(projects),
        electorate=len(deputies),
    )
    return vs


def _set_slate(session: Session, vs: VotingSession, projects: list[Project]) -> None:
    session.execute(delete(SessionProject).where(col(SessionProject.session_id) == vs.id))
    session.add_all(
        [
            SessionProject(session_id=vs.id or 0, project_id=p.id or 0, position=i)
            for i, p in enumerate(projects)
        ]
    )
    session.flush()


def _set_electorate(session: Session, vs: VotingSession, deputies: list[User]) -> None:
    session.execute(delete(SessionDeputy).where(col(SessionDeputy.session_id) == vs.id))
    if deputies:
        session.execute(
            insert(SessionDeputy),
            [{"session_id": vs.id, "user_id": u.id} for u in deputies],
        )
    session.flush()


def _lock(session: Session, vs: VotingSession) -> VotingSession:
    """Re-read the session row under an exclusive lock before changing its state. PostgreSQL:
    SELECT ... FOR UPDATE waits for every ballot transaction holding the row (their inserts
    reference it); SQLite has no row locks, so a no-op write takes its write lock instead."""
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


def update_session(
    session: Session, *, vs: VotingSession, data: SessionUpdate, actor: str
) -> VotingSession:
    """Change a draft session; once open its slate, budget, electorate and rule are frozen."""
    vs = _lock(session, vs)
    if vs.state != SessionState.draft:
        raise Conflict("The session is no longer a draft: its configuration is frozen")
    changes = data.model_dump(exclude_unset=True)
    if "threshold" in changes:
        vs.threshold = _parse_threshold(changes.pop("threshold")).as_json()
    if "project_ids" in changes:
        _set_slate(session, vs, _resolve_projects(session, changes.pop("project_ids"), vs.kind))
    if "deputy_usernames" in changes:
        _set_electorate(session, vs, _resolve_deputies(session, changes.pop("deputy_usernames")))
    if "mode" in changes or "quorum" in changes:
        mode = changes.pop("mode", None) or vs.mode
        quorum = changes.pop("quorum", vs.quorum)
        if mode != vs.mode and "quorum" not in data.model_fields_set:
            # The old mode's default goes with it (hall -> remote drops the hall's 2/3).
            quorum = None if vs.quorum == hall.quorum_of(vs.mode, None) else quorum
        vs.mode, vs.quorum = mode, hall.quorum_of(mode, quorum)
    for key, value in changes.items():
        setattr(vs, key, value.strip() if isinstance(value, str) else value)
    _check_selection_numbers(vs.kind, vs.budget_cap, 1)
    session.add(vs)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="voting_session.update",
        target=str(vs.id),
        fields=sorted(data.model_dump(exclude_unset=True)),
    )
    return vs


def _slate(session: Session, vs: VotingSession) -> list[Project]:
    rows = session.exec(
        select(Project)
        .join(SessionProject, col(SessionProject.project_id) == col(Project.id))
        .where(SessionProject.session_id == vs.id)
        .order_by(col(SessionProject.position))
    )
    return list(rows)


def _deputy_names(session: Session, vs: VotingSession) -> list[str]:
    rows = session.exec(
        select(User.username)
        .join(SessionDeputy, col(SessionDeputy.user_id) == col(User.id))
        .where(SessionDeputy.session_id == vs.id)
        .order_by(col(User.username))
    )
    return list(rows)


def _slate_items(session: Session, vs: VotingSession) -> list[SlateItem]:
    if vs.frozen_config is not None:
        return [SlateItem(**item) for item in vs.frozen_config["projects"]]
    projects = _slate(session, vs)
    wanted: set[int | None] = {p.sponsor_unit_id for p in projects}
    units = units_by_id(session, wanted | {p.area_unit_id for p in projects})
    items = []
    for p in projects:
        items.append(SlateItem(project_id=p.id or 0, **described(p, units)))
    return items


def session_public(session: Session, *, vs: VotingSession) -> SessionPublic:
    """A session's configuration, slate and state (never who voted or how)."""
    return SessionPublic(
        id=vs.id or 0,
        kind=vs.kind,
        title=vs.title,
        title_en=vs.title_en,
        year=vs.year,
        state=vs.state,
        budget_cap=vs.budget_cap,
        max_selected=vs.max_selected,
        max_for_per_ballot=vs.max_for_per_ballot,
        threshold=vs.threshold,
        on_no_fit=vs.on_no_fit,
        mode=vs.mode,
        quorum=vs.quorum,
        ballot_method=vs.ballot_method,
        runoff_of_id=vs.runoff_of_id,
        on_tie=vs.on_tie,
        electorate=electorate_size(session, vs),
        projects=_slate_items(session, vs),
        config_hash=vs.config_hash,
        opened_at=vs.opened_at,
        closed_at=vs.closed_at,
        published_at=vs.published_at,
    )


def list_sessions(
    session: Session, *, states: list[SessionState] | None = None
) -> list[VotingSession]:
    """Sessions, newest first."""
    q = select(VotingSession).order_by(col(VotingSession.id).desc())
    if states:
        q = q.where(col(VotingSession.state).in_(states))
    return list(session.exec(q))


def frozen_config(session: Session, vs: VotingSession, deputies: list[str]) -> dict[str, Any]:
    """The configuration that opening freezes and hashes: slate, electorate, budget, rule (a
    hall vote's mode, quorum and ballot method too; its attendance is added at opening)."""
    cfg = {
        "session_id": vs.id,
        "kind": SessionKind(vs.kind).value,
        "title": vs.title,
        "title_en": vs.title_en,
        "year": vs.year,
        "budget_cap": vs.budget_cap,
        "max_selected": vs.max_selected,
        "max_for_per_ballot": vs.max_for_per_ballot,
        "threshold": vs.threshold,
        "on_no_fit": vs.on_no_fit,
        "projects": [i.model_dump() for i in _slate_items(session, vs)],
        "deputies": deputies,
        "electorate_size": len(deputies),
    }
    # Only what differs from a remote electronic vote, so those configurations hash as before.
    if vs.mode != SessionMode.remote or vs.ballot_method != BallotMethod.electronic:
        cfg["mode"] = SessionMode(vs.mode).value
        cfg["quorum"] = vs.quorum
        cfg["ballot_method"] = BallotMethod(vs.ballot_method).value
    if vs.runoff_of_id is not None:
        cfg["runoff_of"] = vs.runoff_of_id
    if vs.on_tie != "rule":
        cfg["on_tie"] = vs.on_tie
    return cfg


# --- sessions: state changes ----------------------------------------------------------------


def open_session(session: Session, *, vs: VotingSession, actor: str) -> VotingSession:
    """Draft -> open: freeze and hash the configuration; ballots are accepted from now on."""
    vs = _lock(session, vs)
    if vs.state != SessionState.draft:
        raise Conflict(f"Only a draft session can be opened (it is {SessionState(vs.state).value})")
    deputies = _deputy_names(session, vs)
    if not deputies:
        raise Conflict("The session has no electorate")
    attendance = hall.attendance_at_opening(session, vs)  # 409 below the quorum
    slate = _slate(session, vs)
    if vs.kind == SessionKind.selection:
        for p in slate:
            if p.status in IMPLEMENTATION:
                raise Conflict(f"Project {p.id} is already selected")
            p.status = ProjectStatus.on_ballot
            session.add(p)
    config = frozen_config(session, vs, deputies)
    if attendance is not None:  # hashed with the rest: the result states it
        config["attendance"] = attendance
    vs.frozen_config = config
    vs.config_hash = rules.config_hash(vs.frozen_config)
    vs.state = SessionState.open
    vs.opened_at = utcnow()
    session.add(vs)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="voting_session.open",
        target=str(vs.id),
        config_hash=vs.config_hash,
        electorate=len(deputies),
    )
    return vs


def close_session(
    session: Session, *, vs: VotingSession, actor: str, scrutineers: list[str] | None = None
) -> VotingSession:
    """Open -> closed: no ballot gets in any more; the result is counted and kept."""
    vs = _lock(session, vs)
    if vs.state != SessionState.open:
        raise Conflict(f"Only an open session can be closed (it is {SessionState(vs.state).value})")
    paper.check_can_close(session, vs=vs)  # 409 while a paper count is owed
    names = scrutiny.close_names(session, vs=vs, given=scrutineers)  # a hall vote's: required
    vs.state = SessionState.closed
    vs.closed_at = utcnow()
    # Old copies of the rewritten rows are scrubbed after commit (surveys.voting.storage).
    reshuffle_ballots(session, vs=vs)
    reshuffle_voters(session, vs=vs)
    result = count(session, vs=vs)
    result.scrutineers = names
    vs.result = as_stored(result)
    session.add(vs)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="voting_session.close",
        target=str(vs.id),
        cast=result.cast,
        electorate=result.electorate,
        void=result.void_reason,
        scrutineers=names,
    )
    return vs


def delete_session(session: Session, *, vs: VotingSession, actor: str) -> None:
    """Delete a draft; its slate, electorate, sign-ins, seat cards and printed sheets go with
    it (the tables cascade). Once opened, a vote stays on record."""
    vs = _lock(session, vs)
    if vs.state != SessionState.draft:
        raise Conflict("Only a draft session can be deleted: an opened vote stays on record")
    audit.record(session, actor=actor, action="voting_session.delete", target=str(vs.id))
    session.delete(vs)
    session.flush()


def publish_session(session: Session, *, vs: VotingSession, actor: str) -> VotingSession:
    """Closed -> published: results and ballots become public; selected projects become units."""
    vs = _lock(session, vs)
    if vs.state != SessionState.closed:
        raise Conflict(
            f"Only a closed session can be published (it is {SessionState(vs.state).value})"
        )
    assert vs.frozen_config is not None and vs.result is not None
    if rules.config_hash(vs.frozen_config) != vs.config_hash:
        raise Conflict("The frozen configuration does not match its hash")
    result = runoff.decided_result(session, vs=vs)  # 409 while a tie awaits its run-off
    chosen = (
        [r.project_id for r in result.projects if r.selected]
        if isinstance(result, SelectionResult)
        else []
    )
    if vs.kind == SessionKind.selection:
        for p in _slate(session, vs):
            if p.id in chosen:
                p.status = ProjectStatus.selected
                p.unit_id = _project_unit(session, p).id
            elif p.status == ProjectStatus.on_ballot:
                p.status = ProjectStatus.not_selected
            session.add(p)
    vs.state = SessionState.published
    vs.published_at = utcnow()
    session.add(vs)
    runoff.publish_rounds(session, vs=vs)
    audit.record(
        session,
        actor=actor,
        action="voting_session.publish",
        target=str(vs.id),
        config_hash=vs.config_hash,
        selected=chosen,
    )
    return vs


def _project_unit(session: Session, p: Project) -> Unit:
    """The rateable unit of a selected project (kind ``project``), created once."""
    if p.unit_id is not None:
        unit = session.get(Unit, p.unit_id)
        if unit is not None:
            return unit
    code = f"project-{p.id}"
    return unit_by_code(session, code) or create_unit(
        session,
        data=UnitCreate(
            code=code, name=p.title[:200], name_en=p.title_en[:200], kind=UnitKind.project
        ),
    )


# --- for the console: the rule in words, the electorate to choose from ---------------------


def rule_preview(
    *,
    kind: SessionKind,
    budget_cap: int,
    threshold: Any,
    on_no_fit: str,
    max_selected: int | None,
    max_for_per_ballot: int | None,
    electorate: int,
    threshold_loc: tuple[str, ...] = ("body", "threshold"),
) -> tuple[str, str]:
    """The rule of a configuration in plain words (zh-CN, en); 422 naming a bad threshold."""
    config = rules.RuleConfig(
        budget=budget_cap,
        threshold=_parse_threshold(threshold, threshold_loc),
        on_no_fit=rules.OnNoFit(on_no_fit),
        max_selected=max_selected,
    )
    satisfaction = kind == SessionKind.satisfaction
    return tuple(  # type: ignore[return-value]
        rules.rule_preview(
            config,
            electorate=electorate,
            satisfaction=satisfaction,
            max_for_per_ballot=max_for_per_ballot,
            lang=lang,
        )
        for lang in ("zh-CN", "en")
    )


def session_rule_preview(session: Session, *, vs: VotingSession) -> tuple[str, str]:
    """A session's rule in plain words (zh-CN, en), with its present electorate."""
    return rule_preview(
        kind=SessionKind(vs.kind),
        budget_cap=vs.budget_cap,
        threshold=vs.threshold,
        on_no_fit=vs.on_no_fit,
        max_selected=vs.max_selected,
        max_for_per_ballot=vs.max_for_per_ballot,
        electorate=electorate_size(session, vs),
    )


def electorate_usernames(session: Session, *, vs: VotingSession) -> list[str]:
    """The usernames of a session's electorate, in order (frozen once it is open)."""
    if vs.frozen_config is not None:
        return list(vs.frozen_config.get("deputies", []))
    return _deputy_names(session, vs)


def active_deputies(session: Session, *, q: str = "") -> list[User]:
    """Active deputy accounts whose username or name contains q, by username."""
    query = select(User).where(User.role == Role.deputy, col(User.is_active).is_(True))
    if q:
        like = f"%{q.lower()}%"
        query = query.where(col(User.username).ilike(like) | col(User.display_name).ilike(like))
    return list(session.exec(query.order_by(col(User.username))))
