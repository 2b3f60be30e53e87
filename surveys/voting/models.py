"""Tables and schemas of the livelihood-project vote (民生实事项目票决).

Ballot secrecy lives in the table design: a ballot row has a random id, no deputy, no time;
"who has voted" is a separate ``voting_voter`` row with no ballot and no time, written in
the same transaction. The primary key of ``voting_voter`` is the guard that allows one
ballot per deputy, whatever the concurrency or the number of server processes.
"""

from __future__ import annotations

import datetime as dt
import enum
from datetime import date, datetime
from typing import Any, Literal

from pydantic import ConfigDict, field_validator
from sqlalchemy import JSON, BigInteger, Column, Date, String, Text
from sqlmodel import Field, SQLModel

from service.db import UTCDateTime, utcnow

CATEGORIES = ("教育", "养老", "医疗", "交通", "环境", "文体", "就业", "住房", "安全", "其他")


class ProjectStatus(str, enum.Enum):
    proposed = "proposed"
    on_ballot = "on_ballot"
    selected = "selected"
    not_selected = "not_selected"
    in_progress = "in_progress"
    completed = "completed"


class ProposalStatus(str, enum.Enum):
    pending = "pending"  # waiting for the office's review; not public while approval is needed
    open = "open"  # approved: public, collecting support
    shortlisted = "shortlisted"  # became a project
    merged = "merged"  # a duplicate, merged into another proposal or an existing project
    rejected = "rejected"


class SessionKind(str, enum.Enum):
    selection = "selection"
    satisfaction = "satisfaction"


class SessionMode(str, enum.Enum):
    remote = "remote"  # deputies vote on their own phones within a window, with a password
    hall = "hall"  # the plenary in the hall: sign-in, quorum, seat cards, the big screen


class BallotMethod(str, enum.Enum):
    electronic = "electronic"
    paper = "paper"  # paper ballots only, counted by hand (voting_paper_count)
    mixed = "mixed"  # electronic ballots and paper ones (a fallback), added up


class SessionState(str, enum.Enum):
    draft = "draft"
    open = "open"
    closed = "closed"
    published = "published"


SELECTION_CHOICES = ("for", "against", "abstain")
SATISFACTION_CHOICES = ("satisfied", "basically_satisfied", "dissatisfied")


# --- tables ---------------------------------------------------------------------------------


class Proposal(SQLModel, table=True):
    """A resident's proposal for a candidate project. Proposers are anonymous."""

    __tablename__ = "voting_proposal"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=200)
    description: str = Field(default="", sa_type=Text)
    category: str = Field(max_length=16)
    area_unit_id: int | None = Field(default=None, foreign_key="unit.id")
    rough_cost: int | None = Field(default=None, sa_type=BigInteger)
    status: ProposalStatus = Field(default=ProposalStatus.open, sa_type=String(16), index=True)
    merged_into_id: int | None = Field(default=None, foreign_key="voting_proposal.id")
    project_id: int | None = Field(default=None, foreign_key="voting_project.id")
    support_count: int = 0
    review_note: str = Field(default="", max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    reviewed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # the last decision


class ProposalSupport(SQLModel, table=True):
    """One support: keyed hashes of the client's token and network, nothing else."""

    __tablename__ = "voting_proposal_support"

    proposal_id: int = Field(foreign_key="voting_proposal.id", primary_key=True, ondelete="CASCADE")
    supporter_key: str = Field(max_length=64, primary_key=True)
    network_key: str = Field(max_length=64, index=True)


class Project(SQLModel, table=True):
    """A candidate livelihood project; once selected it is also a rateable unit."""

    __tablename__ = "voting_project"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=200)
    title_en: str = Field(default="", max_length=200)
    description: str = Field(default="", sa_type=Text)
    description_en: str = Field(default="", sa_type=Text)
    category: str = Field(max_length=16, index=True)
    budget: int = Field(sa_type=BigInteger)
    sponsor_unit_id: int = Field(foreign_key="unit.id")
    area_unit_id: int | None = Field(default=None, foreign_key="unit.id")
    status: ProjectStatus = Field(default=ProjectStatus.proposed, sa_type=String(16), index=True)
    unit_id: int | None = Field(default=None, foreign_key="unit.id")  # set when selected
    percent_done: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ProjectUpdate(SQLModel, table=True):
    """A progress report on a selected project."""

    __tablename__ = "voting_project_update"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="voting_project.id", index=True, ondelete="CASCADE")
    on_date: date = Field(sa_type=Date)
    percent_done: int
    note: str = Field(default="", sa_type=Text)
    author: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class VotingSession(SQLModel, table=True):
    """A vote of the deputies on a slate of projects (selection) or on their implementation
    (satisfaction). Its configuration is frozen and hashed when it opens."""

    __tablename__ = "voting_session"
    # AUTOINCREMENT on SQLite: a deleted draft's id is named in the audit log and on its
    # printed seat cards (/hall/{id}/card), so no later session may take it.
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, primary_key=True)
    kind: SessionKind = Field(default=SessionKind.selection, sa_type=String(16))
    title: str = Field(max_length=200)
    title_en: str = Field(default="", max_length=200)
    year: int
    state: SessionState = Field(default=SessionState.draft, sa_type=String(16), index=True)
    budget_cap: int = Field(default=0, sa_type=BigInteger)
    max_selected: int | None = None
    max_for_per_ballot: int | None = None
    # "majority_of_all" | "majority_of_cast" | "none" | {"fraction": "3/5"} | {"min_votes": 50}
    threshold: Any = Field(default="majority_of_all", sa_column=Column(JSON, nullable=False))
    on_no_fit: str = Field(default="skip", max_length=8)
    mode: SessionMode = Field(default=SessionMode.remote, sa_type=String(8))
    # A fraction of the seated deputies that must be present to open, e.g. "2/3" (at least
    # that share, the number itself included); null: no quorum (remote sessions).
    quorum: str | None = Field(default=None, max_length=16)
    ballot_method: BallotMethod = Field(default=BallotMethod.electronic, sa_type=String(12))
    # A run-off round: the session whose tie at the cut line it decides.
    runoff_of_id: int | None = Field(default=None, foreign_key="voting_session.id", index=True)
    # Equal "for" votes at the cut line: "rule" settles them by the published tie-breaks,
    # "runoff" leaves them to another vote among the tied (surveys.voting.runoff).
    on_tie: str = Field(default="rule", sa_type=String(8))
    # Set at opening: the canonical configuration (slate with budgets, electorate, rule) and
    # its SHA-256, which the published result carries.
    frozen_config: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    config_hash: str | None = Field(default=None, max_length=64)
    # Set at closing: the counted result (it cannot change afterwards: no ballot gets in).
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    opened_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SessionProject(SQLModel, table=True):
    __tablename__ = "voting_session_project"

    session_id: int = Field(foreign_key="voting_session.id", primary_key=True, ondelete="CASCADE")
    project_id: int = Field(foreign_key="voting_project.id", primary_key=True)
    position: int


class SessionDeputy(SQLModel, table=True):
    """The electorate: every deputy seated for the session."""

    __tablename__ = "voting_session_deputy"

    session_id: int = Field(foreign_key="voting_session.id", primary_key=True, ondelete="CASCADE")
    user_id: int = Field(foreign_key="user_account.id", primary_key=True)


class Voter(SQLModel, table=True):
    """That a deputy has voted: no ballot reference, no time. Its key is the one-ballot guard."""

    __tablename__ = "voting_voter"

    session_id: int = Field(foreign_key="voting_session.id", primary_key=True, ondelete="CASCADE")
    user_id: int = Field(foreign_key="user_account.id", primary_key=True)


class Ballot(SQLModel, table=True):
    """A secret ballot: random id, the SHA-256 of its receipt, no deputy, no time."""

    __tablename__ = "voting_ballot"

    id: str = Field(primary_key=True, max_length=32)  # random hex, not a sequence
    session_id: int = Field(foreign_key="voting_session.id", index=True, ondelete="CASCADE")
    receipt_hash: str = Field(max_length=64, unique=True)


class BallotMark(SQLModel, table=True):
    """One mark of a ballot (so counts are a GROUP BY in SQL)."""

    __tablename__ = "voting_ballot_mark"

    ballot_id: str = Field(
        foreign_key="voting_ballot.id", primary_key=True, max_length=32, ondelete="CASCADE"
    )
    project_id: int = Field(foreign_key="voting_project.id", primary_key=True, index=True)
    choice: str = Field(max_length=24)


# --- schemas --------------------------------------------------------------------------------


class ProposalCreate(SQLModel):
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    title: str = Field(min_length=2, max_length=200)
    description: str = Field(default="", max_length=5000)
    category: str = Field(min_length=1, max_length=16)
    area_code: str | None = Field(default=None, max_length=64)
    rough_cost: int | None = Field(default=None, ge=0, le=10**13)

    # Before the length checks, so a title of spaces is refused as too short (422 naming it).
    @field_validator("title", "description", mode="before")
    @classmethod
    def _strip(cls, v: object) -> object:
        if not isinstance(v, str):
            return v  # the type check names it
        if "\x00" in v:
            raise ValueError("NUL characters are not allowed")
        return v.strip()


class ProposalPublic(SQLModel):
    id: int
    title: str
    description: str
    category: str
    area_code: str | None
    area_name: str | None = None
    rough_cost: int | None
    status: ProposalStatus
    support_count: int
    merged_into_id: int | None
    project_id: int | None
    created_on: date


class ProposalReview(SQLModel):
    """An admin's decision on a proposal."""

    action: Literal["approve", "reject", "reopen", "merge", "shortlist"]
    note: str = Field(default="", max_length=500)  # for "reject": the reason
    # For "merge": another proposal, or an existing project (one of the two).
    merge_into: int | None = None
    merge_into_project: int | None = None
    # For "shortlist": the project's fields (title and category default to the proposal's).
    budget: int | None = Field(default=None, ge=1, le=10**13)
    sponsor_unit_code: str | None = Field(default=None, max_length=64)
    title_en: str = Field(default="", max_length=200)


class SupportResult(SQLModel):
    proposal_id: int
    support_count: int


class ProjectCreate(SQLModel):
    title: str = Field(min_length=2, max_length=200)
    title_en: str = Field(default="", max_length=200)
    description: str = Field(default="", max_length=10000)
    description_en: str = Field(default="", max_length=10000)
    category: str = Field(min_length=1, max_length=16)
    budget: int = Field(ge=1, le=10**13)  # yuan
    sponsor_unit_code: str = Field(min_length=1, max_length=64)
    area_code: str | None = Field(default=None, max_length=64)


class ProjectEdit(SQLModel):
    """Changes to a project (only the fields sent); an empty ``area_code`` clears the area."""

    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    title: str | None = Field(default=None, min_length=2, max_length=200)
    title_en: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=10000)
    description_en: str | None = Field(default=None, max_length=10000)
    category: str | None = Field(default=None, min_length=1, max_length=16)
    budget: int | None = Field(default=None, ge=1, le=10**13)
    sponsor_unit_code: str | None = Field(default=None, min_length=1, max_length=64)
    area_code: str | None = Field(default=None, max_length=64)
    status: ProjectStatus | None = None


class Created(SQLModel):
    id: int


class ProjectUpdateCreate(SQLModel):
    date: dt.date
    percent_done: int = Field(ge=0, le=100)
    note: str = Field(default="", max_length=5000)


class ProjectUpdatePublic(SQLModel):
    id: int
    date: dt.date
    percent_done: int
    note: str


class ProjectPublic(SQLModel):
    id: int
    title: str
    title_en: str
    description: str
    description_en: str
    category: str
    budget: int
    sponsor_unit_code: str
    sponsor_name: str
    sponsor_name_en: str
    area_code: str | None
    area_name: str | None
    status: ProjectStatus
    unit_code: str | None
    percent_done: int
    updates: list[ProjectUpdatePublic] = []


class SessionCreate(SQLModel):
    kind: SessionKind = SessionKind.selection
    title: str = Field(min_length=2, max_length=200)
    title_en: str = Field(default="", max_length=200)
    year: int = Field(ge=2000, le=2200)
    project_ids: list[int] = Field(min_length=1, max_length=500)
    # May be chosen later (the console sets the slate first); opening refuses an empty one.
    deputy_usernames: list[str] = Field(default_factory=list, max_length=5000)
    budget_cap: int = Field(default=0, ge=0, le=10**14)
    max_selected: int | None = Field(default=None, ge=0, le=500)
    max_for_per_ballot: int | None = Field(default=None, ge=0, le=500)
    threshold: Any = "majority_of_all"
    on_no_fit: Literal["skip", "stop"] = "skip"
    on_tie: Literal["rule", "runoff"] = "rule"
    mode: SessionMode = SessionMode.remote
    # "2/3" style; None: the default of the mode (hall: "2/3", remote: no quorum).
    quorum: str | None = Field(default=None, max_length=16)
    ballot_method: BallotMethod = BallotMethod.electronic


class SessionUpdate(SQLModel):
    """Changes to a draft session (409 once it is open)."""

    title: str | None = Field(default=None, min_length=2, max_length=200)
    title_en: str | None = Field(default=None, max_length=200)
    year: int | None = Field(default=None, ge=2000, le=2200)
    project_ids: list[int] | None = Field(default=None, min_length=1, max_length=500)
    deputy_usernames: list[str] | None = Field(default=None, min_length=1, max_length=5000)
    budget_cap: int | None = Field(default=None, ge=0, le=10**14)
    max_selected: int | None = Field(default=None, ge=0, le=500)
    max_for_per_ballot: int | None = Field(default=None, ge=0, le=500)
    threshold: Any = None
    on_no_fit: Literal["skip", "stop"] | None = None
    on_tie: Literal["rule", "runoff"] | None = None
    mode: SessionMode | None = None
    quorum: str | None = Field(default=None, max_length=16)
    ballot_method: BallotMethod | None = None


class SlateItem(SQLModel):
    project_id: int
    title: str
    title_en: str
    description: str
    description_en: str
    category: str
    budget: int
    sponsor_name: str
    sponsor_name_en: str
    area_name: str | None


class SessionSummary(SQLModel):
    id: int
    kind: SessionKind
    title: str
    title_en: str
    year: int
    state: SessionState


class SessionPublic(SQLModel):
    id: int
    kind: SessionKind
    title: str
    title_en: str
    year: int
    state: SessionState
    budget_cap: int
    max_selected: int | None
    max_for_per_ballot: int | None
    threshold: Any
    on_no_fit: str
    mode: SessionMode = SessionMode.remote
    quorum: str | None = None
    ballot_method: BallotMethod = BallotMethod.electronic
    runoff_of_id: int | None = None
    on_tie: str = "rule"
    electorate: int
    projects: list[SlateItem]
    config_hash: str | None
    opened_at: datetime | None
    closed_at: datetime | None
    published_at: datetime | None


class BallotIn(SQLModel):
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    choices: dict[str, str]


class Receipt(SQLModel):
    receipt: str
    receipt_hash: str


class Turnout(SQLModel):
    cast: int
    electorate: int
    state: SessionState


class PublicBallot(SQLModel):
    receipt_hash: str
    choices: dict[str, str]
