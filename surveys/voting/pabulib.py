"""The public Pabulib format (https://pabulib.org/format): reading and writing it (pure),
a closed session's export and an election's import as a closed session.

A ``.pb`` file has three ``;``-separated sections: META (key;value), PROJECTS (one row
per project: project_id;cost;... ) and VOTES (one row per voter; for approval ballots the
``vote`` column lists the approved project ids, comma-separated).
"""

from __future__ import annotations

import csv
import io
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session

from service import audit
from service.db import utcnow
from service.errors import Conflict, Invalid
from service.models import User
from surveys.units.models import UnitCreate, UnitKind
from surveys.units.service import create_unit, unit_by_code
from surveys.voting import paper
from surveys.voting.ballots import approval_ballots, new_receipt, receipt_hash
from surveys.voting.models import (
    Ballot,
    BallotMark,
    Project,
    ProjectStatus,
    SessionKind,
    SessionProject,
    SessionState,
    VotingSession,
)
from surveys.voting.results import count, results, rule_config
from surveys.voting.rules import OnNoFit, RuleConfig, Threshold, ThresholdKind, config_hash
from surveys.voting.schemas import SelectionResult, as_stored
from surveys.voting.sessions import frozen_config

# The META ``rule`` values that a vote-ranking session models directly.
GREEDY_RULES = {"greedy", "greedy-threshold", "greedy-no-skip"}


class PabulibError(ValueError):
    """The file is not a Pabulib approval election Minyi can load."""


@dataclass
class PbProject:
    project_id: str
    cost: int
    name: str = ""
    category: str = ""
    votes_column: int | None = None  # the PROJECTS section's own "votes" count, if any
    selected: int | None = None  # the file's "selected" value (1 = funded; some files use 2)
    extra: dict[str, str] = field(default_factory=dict)


@dataclass
class PbElection:
    meta: dict[str, str]
    projects: list[PbProject]
    votes: list[list[str]]  # approved project ids per voter, in file order

    @property
    def budget(self) -> int:
        return _int(self.meta.get("budget", ""), "META budget")

    @property
    def rule(self) -> str:
        return self.meta.get("rule", "unknown").strip()

    def approvals(self) -> dict[str, int]:
        """Counted approvals per project id (from the VOTES section)."""
        counts = {p.project_id: 0 for p in self.projects}
        for ballot in self.votes:
            for pid in ballot:
                counts[pid] += 1
        return counts

    def rule_config(self) -> RuleConfig:
        """The file's own selection rule as Minyi's knobs (threshold, skip or stop)."""
        rule = self.rule
        threshold = Threshold(ThresholdKind.none)
        min_score = self.meta.get("min_project_score_threshold")
        if rule == "greedy-threshold" or (rule == "greedy-no-skip" and min_score):
            if not min_score:
                raise PabulibError("greedy-threshold needs META min_project_score_threshold")
            threshold = Threshold(ThresholdKind.min_votes, min_votes=_int(min_score, "threshold"))
        on_no_fit = OnNoFit.stop if rule == "greedy-no-skip" else OnNoFit.skip
        return RuleConfig(budget=self.budget, threshold=threshold, on_no_fit=on_no_fit)


def _int(text: str, what: str) -> int:
    try:
        value = Fraction(text.strip().replace(",", "."))
    except (ValueError, ZeroDivisionError) as exc:
        raise PabulibError(f"{what}: not a number: {text!r}") from exc
    if value.denominator != 1:
        raise PabulibError(f"{what}: whole currency units expected, got {text!r}")
    return int(value)


def parse(text: str) -> PbElection:
    """Parse a Pabulib approval election; raises PabulibError naming the problem."""
    meta: dict[str, str] = {}
    projects: list[PbProject] = []
    votes: list[list[str]] = []
    section = ""
    header: list[str] = []
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";")
    expect_header = False
    for row in reader:
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        first = row[0].strip()
        if first.upper() in ("META", "PROJECTS", "VOTES") and len(row) == 1:
            section = first.upper()
            expect_header = True
            continue
        if expect_header:
            header = [h.strip() for h in row]
            expect_header = False
            continue
        if section == "META":
            if len(row) >= 2:
                meta[first] = row[1].strip()
        elif section == "PROJECTS":
            d = dict(zip(header, (c.strip() for c in row), strict=False))
            if "project_id" not in d or "cost" not in d:
                raise PabulibError("PROJECTS needs project_id and cost columns")
            pid = d.pop("project_id")
            cost = _int(d.pop("cost"), f"project {pid} cost")
            votes_col = d.pop("votes", None)
            selected = d.pop("selected", None)
            projects.append(
                PbProject(
                    project_id=pid,
                    cost=cost,
                    name=d.pop("name", ""),
                    category=d.pop("category", d.pop("categories", "")),
                    votes_column=int(votes_col) if votes_col not in (None, "", "None") else None,
                    selected=int(selected) if selected not in (None, "", "None") else None,
                    extra=d,
                )
            )
        elif section == "VOTES":
            d = dict(zip(header, row, strict=False))
            if "vote" not in d:
                raise PabulibError("VOTES needs a vote column")
            votes.append([v.strip() for v in d["vote"].split(",") if v.strip()])
        else:
            raise PabulibError("content before the META section")
    if not projects:
        raise PabulibError("no PROJECTS section")
    vote_type = meta.get("vote_type", "approval")
    if vote_type != "approval":
        raise PabulibError(f"only approval ballots are supported, not {vote_type!r}")
    if "budget" not in meta:
        raise PabulibError("META has no budget")
    known = {p.project_id for p in projects}
    if len(known) != len(projects):
        raise PabulibError("duplicate project_id in PROJECTS")
    for i, ballot in enumerate(votes, start=1):
        unknown = set(ballot) - known
        if unknown:
            raise PabulibError(f"vote {i} names unknown projects: {sorted(unknown)}")
        if len(set(ballot)) != len(ballot):
            raise PabulibError(f"vote {i} approves a project twice")
    return PbElection(meta, projects, votes)


def _cell(value: Any) -> str:
    text = str(value).replace("\r", " ").replace("\n", " ")
    return text


def write(meta: dict[str, Any], projects: list[dict[str, Any]], votes: list[list[str]]) -> str:
    """A Pabulib file: META (num_projects, num_votes filled in), PROJECTS, VOTES.

    ``projects`` rows need ``project_id`` and ``cost``; other keys become columns.
    Voters are numbered 1..n in the order given, which carries no identity.
    """
    out = io.StringIO()
    w = csv.writer(out, delimiter=";", lineterminator="\n")
    meta = dict(meta)
    meta["num_projects"] = len(projects)
    meta["num_votes"] = len(votes)
    out.write("META\n")
    w.writerow(["key", "value"])
    for key, value in meta.items():
        w.writerow([key, _cell(value)])
    out.write("PROJECTS\n")
    columns = ["project_id", "cost"]
    for row in projects:
        columns += [k for k in row if k not in columns]
    w.writerow(columns)
    for row in projects:
        w.writerow([_cell(row.get(c, "")) for c in columns])
    out.write("VOTES\n")
    w.writerow(["voter_id", "vote"])
    for i, ballot in enumerate(votes, start=1):
        w.writerow([i, ",".join(ballot)])
    return out.getvalue()


# --- a session's export and an election's import (database) ----------------------------


def _pb_date(when: datetime | None) -> str:
    return when.strftime("%d.%m.%Y") if when else ""


def export_pabulib(session: Session, *, vs: VotingSession, user: User | None) -> str:
    """The session as a Pabulib approval election ("for" marks are approvals); no identities."""
    if vs.kind != SessionKind.selection:
        raise Conflict("Only selection sessions are elections in the Pabulib sense")
    result = results(session, vs=vs, user=user)  # the same visibility as the results
    cfg = vs.frozen_config
    assert cfg is not None and isinstance(result, SelectionResult)
    config = rule_config(cfg)
    required = result.threshold_votes
    meta: dict[str, Any] = {
        "description": f"Minyi deputies' vote on livelihood projects: {vs.title}",
        "country": "China",
        "unit": "Minyi",
        "instance": vs.year,
        "subunit": vs.title,
        "budget": config.budget,
        "vote_type": "approval",
    }
    if config.max_selected is not None:
        meta["rule"] = "unknown"
    elif config.on_no_fit == OnNoFit.stop:
        meta["rule"] = "greedy-no-skip"
    elif required > 0:
        meta["rule"] = "greedy-threshold"
    else:
        meta["rule"] = "greedy"
    if required > 0 and meta["rule"] != "unknown":
        meta["min_project_score_threshold"] = required
    meta["date_begin"] = _pb_date(vs.opened_at)
    meta["date_end"] = _pb_date(vs.closed_at)
    if cfg["max_for_per_ballot"] is not None:
        meta["max_length"] = cfg["max_for_per_ballot"]
    meta["language"] = "zh"
    meta["currency"] = "CNY"
    meta["comment"] = (
        '#1: Each deputy marked every project "for", "against" or "abstain"; the approvals '
        'here are the "for" marks. Ties in votes were settled by fewer "against", then lower '
        "cost, then the earlier id. Voter ids are arbitrary and identify nobody."
    )
    projects = [
        {
            "project_id": p.project_id,
            "cost": p.budget,
            "votes": p.votes_for,
            "name": p.title,
            "selected": 1 if p.selected else 0,
        }
        for p in sorted(result.projects, key=lambda r: (r.rank is None, r.rank or 0, r.project_id))
    ]
    if result.paper is not None and result.paper.entry == "per_candidate":
        raise Conflict(
            "The paper ballots were counted as per-project totals: there are no ballots to "
            "export, and the file's votes would not add up to the projects' scores"
        )
    # Paper sheets entered one by one are ballots like the electronic ones.
    ballots = approval_ballots(session, vs) + paper.approval_ballots(session, vs)
    votes = [[str(p) for p in ballot] for ballot in ballots]
    return write(meta, projects, votes)


def import_pabulib(
    session: Session,
    *,
    election: PbElection,
    actor: str,
    progress: Any = None,
) -> VotingSession:
    """Load a Pabulib approval election as a closed selection session with its own rule."""
    if election.rule not in GREEDY_RULES:
        raise Invalid.field(
            ("file", "META", "rule"),
            f"rule '{election.rule}' is not one of {sorted(GREEDY_RULES)}",
        )
    config = election.rule_config()
    sponsor = unit_by_code(session, "pabulib") or create_unit(
        session,
        data=UnitCreate(
            code="pabulib",
            name="Pabulib 公开数据",
            name_en="Pabulib open data",
            kind=UnitKind.department,
        ),
    )
    meta = election.meta
    title = (meta.get("description") or "Pabulib election")[:200]
    year = int(meta.get("instance", "2000")[:4]) if meta.get("instance", "")[:4].isdigit() else 2000
    vs = VotingSession(
        kind=SessionKind.selection,
        title=title,
        title_en=title,
        year=max(2000, min(2200, year)),
        budget_cap=config.budget,
        threshold=config.threshold.as_json(),
        on_no_fit=config.on_no_fit.value,
    )
    session.add(vs)
    session.flush()
    ids: dict[str, int] = {}
    for i, pb in enumerate(election.projects):
        project = Project(
            title=(pb.name or pb.project_id)[:200],
            title_en=(pb.name or pb.project_id)[:200],
            description=f"Pabulib project {pb.project_id}"
            + (f" ({pb.category})" if pb.category else ""),
            category="其他",
            budget=pb.cost,
            sponsor_unit_id=sponsor.id or 0,
            status=ProjectStatus.on_ballot,
        )
        session.add(project)
        session.flush()
        ids[pb.project_id] = project.id or 0
        session.add(SessionProject(session_id=vs.id or 0, project_id=project.id or 0, position=i))
    session.flush()
    vs.frozen_config = frozen_config(session, vs, [])
    vs.frozen_config["electorate_size"] = len(election.votes)
    vs.frozen_config["imported"] = {"format": "pabulib", "meta": dict(meta)}
    vs.config_hash = config_hash(vs.frozen_config)
    rows: list[dict[str, Any]] = []
    marks: list[dict[str, Any]] = []
    for n, ballot in enumerate(election.votes, start=1):
        bid = secrets.token_hex(16)
        rows.append({"id": bid, "session_id": vs.id, "receipt_hash": receipt_hash(new_receipt())})
        marks += [{"ballot_id": bid, "project_id": ids[p], "choice": "for"} for p in ballot]
        if len(rows) >= 1000:
            session.execute(insert(Ballot), rows)
            if marks:
                session.execute(insert(BallotMark), marks)
            rows, marks = [], []
        if progress:
            progress(n)
    if rows:
        session.execute(insert(Ballot), rows)
    if marks:
        session.execute(insert(BallotMark), marks)
    vs.state = SessionState.closed
    vs.opened_at = vs.closed_at = utcnow()
    session.add(vs)
    session.flush()
    vs.result = as_stored(count(session, vs=vs))
    session.add(vs)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="voting_session.import",
        target=str(vs.id),
        source="pabulib",
        rule=election.rule,
        voters=len(election.votes),
    )
    return vs
