"""The counted result of a voting session, typed.

``results.count`` returns it, ``voting_session.result`` keeps its JSON form (``as_stored``),
the results API answers it, and analytics and pages read it. Pure pydantic (no database
import), so the charts can take it. JSON keys are those of the
published contract (docs/voting.md): a project's "for" votes are ``votes_for`` in Python
and ``"for"`` in JSON.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_serializer

from surveys.voting.rules import Grade


class _Schema(BaseModel):
    model_config = ConfigDict(
        validate_by_name=True, validate_by_alias=True, serialize_by_alias=True
    )


class SelectionRow(_Schema):
    """One project of a selection session: its votes and what the rule made of them."""

    project_id: int
    title: str
    title_en: str
    category: str
    budget: int
    votes_for: int = Field(alias="for")
    against: int
    abstain: int
    passed: bool
    rank: int | None
    selected: bool
    reason: str  # a rules.Reason value
    selected_equal_shares: bool


class SatisfactionRow(_Schema):
    """One project of a satisfaction grading."""

    project_id: int
    title: str
    title_en: str
    budget: int
    satisfied: int
    basically_satisfied: int
    dissatisfied: int
    grade: Grade | None  # None: the vote is void, nothing is graded


class TieOut(_Schema):
    """Projects with equal "for" votes whose order decided the selection, and how."""

    project_ids: list[int]
    votes_for: int
    settled_by: list[str]
    text: str
    text_en: str


class EqualSharesOut(_Schema):
    """The Method of Equal Shares on the same ballots, for comparison only."""

    selected: list[int]
    budget_used: int
    mes: list[int]
    greedy: list[int]
    per_voter_budget: str  # an exact rational, "p/q"
    prefer_mes: int
    prefer_greedy: int
    used_greedy: bool
    method: str


class AttendanceOut(_Schema):
    """The attendance of a hall session (应到 / 实到) and its quorum: at its opening (frozen in
    the configuration, it proves the quorum) or at its close (late arrivals included)."""

    seated: int  # 应到: the electorate
    present: int  # 实到: signed in when the session opened (or closed)
    quorum: str | None  # the fraction of the seated that had to be present, e.g. "2/3"
    quorum_required: int  # the number it meant (ceil(quorum * seated))
    quorum_met: bool


class PaperOut(_Schema):
    """The reconciliation of a session's paper ballots (发出 / 收回 / 有效 / 无效)."""

    entry: Literal["per_candidate", "by_ballot"]
    issued: int
    collected: int
    valid: int
    invalid: int
    scrutineers: list[str]


class RoundOut(_Schema):
    """Another round of the same vote: a run-off among the candidates tied at the cut line."""

    session_id: int
    project_ids: list[int]
    places: int  # the places the run-off decided
    selected: list[int]
    counts: dict[str, dict[str, int]]  # "<project id>": {"for", "against", "abstain"}


class CutTieOut(_Schema):
    """Passing candidates with equal "for" votes that straddle the last place (the cut line):
    the first tie whose order decides who is selected (``surveys.voting.runoff``)."""

    project_ids: list[int]
    votes_for: int
    places: int | None  # places left among them; None when only the budget limits them
    budget_left: int  # the budget left when their turn comes
    pending: bool  # True: it awaits a run-off (on_tie "runoff"); False: settled by the rule


class _ResultBase(_Schema):
    session_id: int
    title: str
    title_en: str
    year: int
    electorate: int
    cast: int
    voters_recorded: int
    config_hash: str | None
    counted_at: str  # ISO 8601, as kept at counting
    rule: str
    rule_en: str
    ties: list[TieOut]
    # The hall vote (surveys.voting.hall, .paper, .runoff); remote sessions keep the defaults.
    mode: Literal["remote", "hall"] = "remote"
    attendance: AttendanceOut | None = None  # at opening, as frozen and hashed
    # At the close: late arrivals sign in while the vote is open, and may vote (.hall).
    attendance_at_close: AttendanceOut | None = None
    ballots_electronic: int | None = None  # of ``cast``: ballots cast on a device
    ballots_paper: int | None = None  # of ``cast``: valid paper ballots
    paper: PaperOut | None = None
    scrutineers: list[str] = []  # 监票人 named at the close (.scrutiny); [] before
    # More paper ballots collected than issued void the vote: nothing is counted (.paper_void).
    void: bool = False
    void_reason: str = ""  # zh-CN with English, naming the numbers
    rounds: list[RoundOut] = []  # run-off rounds, in order, once they are closed
    # Only in the results view (``results.results``), not in the kept count.
    state: Literal["draft", "open", "closed", "published"] | None = None
    published_at: datetime | None = None

    def present_at_close(self) -> int:
        """实到 at the close (at opening in a result kept before the close's was recorded;
        the electorate in a remote vote, which has no sign-in)."""
        att = self.attendance_at_close or self.attendance
        return att.present if att is not None else self.electorate

    def not_voted(self, marks: int) -> int:
        """未按 of a candidate with ``marks`` valid marks: deputies present at the close who
        did not mark it (an invalid paper ballot is counted apart, as 无效票)."""
        invalid = self.paper.invalid if self.paper is not None else 0
        return max(self.present_at_close() - invalid - marks, 0)

    @field_serializer("published_at", when_used="json")
    def _iso(self, value: datetime | None) -> str | None:
        # The same text as before the result was typed (isoformat, "+00:00").
        return value.isoformat() if value is not None else None


class SelectionResult(_ResultBase):
    """A selection session's count under its frozen rule, with Equal Shares beside it."""

    kind: Literal["selection"] = "selection"
    projects: list[SelectionRow]  # in ranking order
    budget_cap: int
    budget_used: int
    threshold: str | dict[str, Any]  # the rule's threshold in its API form
    threshold_votes: int  # "for" votes needed to pass: rules.Threshold.required
    on_no_fit: str
    max_selected: int | None
    max_for_per_ballot: int | None
    equal_shares: EqualSharesOut
    on_tie: Literal["rule", "runoff"] = "rule"
    cut_tie: CutTieOut | None = None


class SatisfactionResult(_ResultBase):
    """A satisfaction grading's count."""

    kind: Literal["satisfaction"] = "satisfaction"
    projects: list[SatisfactionRow]


VoteResult = Annotated[SelectionResult | SatisfactionResult, Field(discriminator="kind")]

_VOTE_RESULT: TypeAdapter[SelectionResult | SatisfactionResult] = TypeAdapter(VoteResult)
_VIEW_ONLY = {"state", "published_at"}


def parse_result(data: dict[str, Any]) -> SelectionResult | SatisfactionResult:
    """The typed result from its kept JSON form."""
    return _VOTE_RESULT.validate_python(data)


def as_stored(result: SelectionResult | SatisfactionResult) -> dict[str, Any]:
    """The JSON form kept in ``voting_session.result`` (without the view-only fields)."""
    return result.model_dump(mode="json", exclude=_VIEW_ONLY)


# --- the rule in words, before a session is saved (the console's live preview) -------------


class RulePreviewIn(_Schema):
    """A session's rule as it is being configured (query parameters): the fields of
    ``SessionCreate``, the threshold as its kind plus, for two kinds, a number."""

    kind: Literal["selection", "satisfaction"] = "selection"
    budget_cap: int = Field(default=0, ge=0, le=10**14)
    max_selected: int | None = Field(default=None, ge=0, le=500)
    max_for_per_ballot: int | None = Field(default=None, ge=0, le=500)
    threshold: Literal["majority_of_all", "majority_of_cast", "none", "fraction", "min_votes"] = (
        "majority_of_all"
    )
    threshold_value: str = Field(default="", max_length=32)  # "3/5" or "0.6"; a vote count
    on_no_fit: Literal["skip", "stop"] = "skip"
    electorate: int = Field(default=0, ge=0, le=5000)

    def threshold_api(self) -> str | dict[str, Any]:
        """The threshold in the API's form (``SessionCreate.threshold``)."""
        value = self.threshold_value.strip()
        if self.threshold == "fraction":
            return {"fraction": value}
        if self.threshold == "min_votes":
            return {"min_votes": int(value) if value.isdigit() else value}
        return self.threshold


class RulePreview(_Schema):
    """The rule in plain language: what a deputy is asked and how the count decides."""

    text: str
    text_en: str
