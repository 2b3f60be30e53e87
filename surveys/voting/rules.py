"""The counting rules, pure (no database): vote thresholds, ranking, budget-constrained
selection and satisfaction grades. The Method of Equal Shares, shown beside them, is in
``equal_shares``.

Everything here is exact: vote counts and budgets are integers, fractions are rationals.
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Generic, Literal, TypeVar

K = TypeVar("K", bound=Hashable)


class ThresholdKind(str, enum.Enum):
    majority_of_all = "majority_of_all"
    majority_of_cast = "majority_of_cast"
    none = "none"
    fraction = "fraction"
    min_votes = "min_votes"


class OnNoFit(str, enum.Enum):
    skip = "skip"
    stop = "stop"


class Reason(str, enum.Enum):
    """Why a project ended up selected or not."""

    selected = "selected"
    below_threshold = "below_threshold"
    over_budget = "over_budget"  # skipped: did not fit in what was left
    stopped = "stopped"  # selection stopped at an earlier project that did not fit
    max_count = "max_count"  # the maximum number of projects was already reached


@dataclass(frozen=True)
class Threshold:
    """How many "for" votes a project needs to pass.

    - ``majority_of_all``: more than half of ALL deputies in the electorate (seated, not
      present): ``for >= floor(S/2) + 1``.
    - ``majority_of_cast``: more than half of the ballots cast: ``for >= floor(C/2) + 1``.
    - ``fraction``: at least the given fraction of all deputies: ``for >= ceil(f * S)``.
    - ``min_votes``: at least the given number of votes (Pabulib's ``min_project_score_threshold``).
    - ``none``: every project passes.
    """

    kind: ThresholdKind = ThresholdKind.majority_of_all
    fraction: Fraction | None = None
    min_votes: int | None = None

    def __post_init__(self) -> None:
        if self.kind == ThresholdKind.fraction and (
            self.fraction is None or not (0 < self.fraction <= 1)
        ):
            raise ValueError("a fraction threshold needs 0 < fraction <= 1")
        if self.kind == ThresholdKind.min_votes and (self.min_votes is None or self.min_votes < 0):
            raise ValueError("a min_votes threshold needs a non-negative number")

    @classmethod
    def parse(cls, value: Any) -> Threshold:
        """From the API form: a kind name, ``{"fraction": 0.6}`` or ``{"min_votes": 50}``."""
        if isinstance(value, Threshold):
            return value
        if isinstance(value, str):
            kind = ThresholdKind(value)
            if kind in (ThresholdKind.fraction, ThresholdKind.min_votes):
                raise ValueError(f"'{value}' needs a number: use {{\"{value}\": ...}}")
            return cls(kind)
        if isinstance(value, Mapping) and len(value) == 1:
            ((key, number),) = value.items()
            if (
                key == "fraction"
                and isinstance(number, int | float | str)
                and not isinstance(number, bool)
            ):
                # Through str so that 0.6 means exactly 6/10; "2/3" is accepted too.
                try:
                    fraction = Fraction(str(number))
                except (ValueError, ZeroDivisionError) as exc:
                    raise ValueError(f"not a fraction: {number!r}") from exc
                return cls(ThresholdKind.fraction, fraction=fraction)
            if key == "min_votes" and isinstance(number, int) and not isinstance(number, bool):
                return cls(ThresholdKind.min_votes, min_votes=number)
        raise ValueError(
            'threshold must be "majority_of_all", "majority_of_cast", "none", '
            '{"fraction": f} or {"min_votes": n}'
        )

    def as_json(self) -> str | dict[str, Any]:
        """The API form (fractions as "p/q" strings so that they stay exact)."""
        if self.kind == ThresholdKind.fraction:
            assert self.fraction is not None
            return {"fraction": str(self.fraction)}
        if self.kind == ThresholdKind.min_votes:
            return {"min_votes": self.min_votes}
        return self.kind.value

    def required(self, *, electorate: int, cast: int) -> int:
        """The smallest number of "for" votes that passes."""
        if self.kind == ThresholdKind.majority_of_all:
            return electorate // 2 + 1
        if self.kind == ThresholdKind.majority_of_cast:
            return cast // 2 + 1
        if self.kind == ThresholdKind.fraction:
            assert self.fraction is not None
            return math.ceil(self.fraction * electorate)
        if self.kind == ThresholdKind.min_votes:
            assert self.min_votes is not None
            return self.min_votes
        return 0


@dataclass(frozen=True)
class RuleConfig:
    """The knobs of a budget-constrained selection by vote ranking."""

    budget: int
    threshold: Threshold = field(default_factory=Threshold)
    on_no_fit: OnNoFit = OnNoFit.skip
    max_selected: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "budget": self.budget,
            "threshold": self.threshold.as_json(),
            "on_no_fit": self.on_no_fit.value,
            "max_selected": self.max_selected,
        }


@dataclass(frozen=True)
class Candidate(Generic[K]):
    """A project on the slate with its vote counts. ``position`` orders "the earlier id"."""

    id: K
    cost: int
    votes_for: int
    votes_against: int = 0
    votes_abstain: int = 0
    position: int = 0


@dataclass
class Row(Generic[K]):
    id: K
    passed: bool
    rank: int | None
    selected: bool
    reason: Reason


@dataclass
class Tie(Generic[K]):
    """Projects with equal "for" votes whose order decided who was selected."""

    ids: list[K]  # in the order the rule put them
    votes_for: int
    settled_by: list[str]  # "fewer_against", "lower_cost", "earlier_id" (those that were needed)


@dataclass
class Selection(Generic[K]):
    rows: list[Row[K]]  # in ranking order: passing projects by rank, then the others
    ties: list[Tie[K]]
    budget_used: int
    required_votes: int

    def selected_ids(self) -> list[K]:
        return [r.id for r in self.rows if r.selected]


def rank_key(c: Candidate[K]) -> tuple[int, int, int, int]:
    """More "for" votes first; ties: fewer "against", then cheaper, then the earlier id."""
    return (-c.votes_for, c.votes_against, c.cost, c.position)


def select(
    candidates: Sequence[Candidate[K]],
    config: RuleConfig,
    *,
    electorate: int,
    cast: int,
    order: Mapping[K, int] | None = None,
) -> Selection[K]:
    """Rank the passing projects and select down the ranking within the budget and count.

    ``order`` is the outcome of run-off rounds (``surveys.voting.runoff``): among equal "for"
    votes, a lower number goes first, before the automatic tie-breaks.
    """
    required = config.threshold.required(electorate=electorate, cast=cast)
    decided = order or {}

    def key(c: Candidate[K]) -> tuple[int, int, int, int, int]:
        return (-c.votes_for, decided.get(c.id, 0), c.votes_against, c.cost, c.position)

    passing = sorted((c for c in candidates if c.votes_for >= required), key=key)
    failing = sorted((c for c in candidates if c.votes_for < required), key=rank_key)
    rows: list[Row[K]] = []
    left = config.budget
    count = 0
    stopped = False
    for rank, c in enumerate(passing, start=1):
        if stopped:
            reason = Reason.stopped
        elif config.max_selected is not None and count >= config.max_selected:
            reason = Reason.max_count
        elif c.cost > left:
            reason = Reason.over_budget
            stopped = config.on_no_fit == OnNoFit.stop
        else:
            reason = Reason.selected
            left -= c.cost
            count += 1
        rows.append(Row(c.id, True, rank, reason == Reason.selected, reason))
    rows += [Row(c.id, False, None, False, Reason.below_threshold) for c in failing]
    ties = _decisive_ties(passing, rows, decided)
    return Selection(rows, ties, config.budget - left, required)


def _decisive_ties(
    passing: list[Candidate[K]], rows: list[Row[K]], decided: Mapping[K, int]
) -> list[Tie[K]]:
    """Groups of equal "for" votes (and run-off outcome) in which some were selected and
    some not.

    If a group is selected entirely or not at all, any order inside it gives the same
    outcome (the group's total cost fits whatever the order, or none of its members fit
    at their turn), so only mixed groups are ties that decided something.
    """

    def same(a: Candidate[K], b: Candidate[K]) -> bool:
        return a.votes_for == b.votes_for and decided.get(a.id, 0) == decided.get(b.id, 0)

    ties: list[Tie[K]] = []
    i = 0
    while i < len(passing):
        j = i
        while j + 1 < len(passing) and same(passing[j + 1], passing[i]):
            j += 1
        group = passing[i : j + 1]
        picked = {rows[k].selected for k in range(i, j + 1)}
        if len(group) > 1 and picked == {True, False}:
            used: list[str] = []
            for a, b in zip(group, group[1:], strict=False):
                if a.votes_against != b.votes_against:
                    name = "fewer_against"
                elif a.cost != b.cost:
                    name = "lower_cost"
                else:
                    name = "earlier_id"
                if name not in used:
                    used.append(name)
            order = ["fewer_against", "lower_cost", "earlier_id"]
            ties.append(
                Tie([c.id for c in group], group[0].votes_for, sorted(used, key=order.index))
            )
        i = j + 1
    return ties


_TIE_WORDS = {
    "zh-CN": {
        "fewer_against": "反对票少者优先",
        "lower_cost": "预算少者优先",
        "earlier_id": "编号在前者优先",
    },
    "en": {
        "fewer_against": "fewer votes against first",
        "lower_cost": "the cheaper project first",
        "earlier_id": "the earlier id first",
    },
}


def tie_words(tie: Tie[Any], lang: str = "zh-CN") -> str:
    """How a tie was settled, in words."""
    words = _TIE_WORDS["en" if lang == "en" else "zh-CN"]
    sep = "；" if lang != "en" else "; then "
    return sep.join(words[s] for s in tie.settled_by)


def rule_text(config: RuleConfig, *, electorate: int, cast: int, lang: str = "zh-CN") -> str:
    """The rule in words, with the numbers of this session."""
    t = config.threshold
    required = t.required(electorate=electorate, cast=cast)
    budget = f"{config.budget:,}"
    if lang == "en":
        if t.kind == ThresholdKind.majority_of_all:
            th = (
                f'A project passes when its "for" votes are more than half of all {electorate} '
                f"deputies in the electorate (at least {required}), whether or not they voted."
            )
        elif t.kind == ThresholdKind.majority_of_cast:
            th = (
                f'A project passes when its "for" votes are more than half of the {cast} '
                f"ballots cast (at least {required})."
            )
        elif t.kind == ThresholdKind.fraction:
            th = (
                f'A project passes when its "for" votes reach {t.fraction} of all {electorate} '
                f"deputies (at least {required})."
            )
        elif t.kind == ThresholdKind.min_votes:
            th = f'A project passes with at least {required} "for" votes.'
        else:
            th = "Every project passes; there is no vote threshold."
        parts = [
            th,
            'Passing projects are ranked by "for" votes; ties go to fewer "against" votes, then '
            "to the cheaper project, then to the earlier id.",
            f"Projects are selected down the ranking while they fit in the budget of {budget} yuan",
        ]
        if config.max_selected is not None:
            parts[-1] += f" and the maximum of {config.max_selected} projects"
        parts[-1] += (
            "; a project that does not fit ends the selection."
            if config.on_no_fit == OnNoFit.stop
            else "; a project that does not fit is skipped and the next one is tried."
        )
        return " ".join(parts)
    if t.kind == ThresholdKind.majority_of_all:
        th = f"赞成票超过全体代表（{electorate} 名，不论是否投票）的半数即通过，即至少 {required} 票。"
    elif t.kind == ThresholdKind.majority_of_cast:
        th = f"赞成票超过所投票数（{cast} 张）的半数即通过，即至少 {required} 票。"
    elif t.kind == ThresholdKind.fraction:
        th = f"赞成票达到全体代表（{electorate} 名）的 {t.fraction} 即通过，即至少 {required} 票。"
    elif t.kind == ThresholdKind.min_votes:
        th = f"赞成票至少 {required} 票即通过。"
    else:
        th = "不设票数门槛，所有项目均参与排序。"
    count = f"、且不超过 {config.max_selected} 个项目" if config.max_selected is not None else ""
    fit = (
        "遇到放不下的项目即停止选择。"
        if config.on_no_fit == OnNoFit.stop
        else "放不下的项目跳过，继续考虑下一个。"
    )
    return (
        f"{th}通过的项目按赞成票由多到少排序；票数相同时，反对票少者在前，其次预算少者在前，"
        f"再次编号在前者在前。按排序依次入选，直至总预算 {budget} 元{count}用完为止；{fit}"
    )


def config_hash(payload: Mapping[str, Any]) -> str:
    """SHA-256 of a canonical JSON form of a session's frozen configuration."""
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


# --- satisfaction follow-up (满意度测评) -------------------------------------------------

Grade = Literal["satisfied", "basically_satisfied", "dissatisfied"]


def grade(*, satisfied: int, basically_satisfied: int, electorate: int) -> Grade:
    """满意 when 满意 exceeds half of all deputies; else 基本满意 when 满意 + 基本满意 does; else 不满意."""
    if 2 * satisfied > electorate:
        return "satisfied"
    if 2 * (satisfied + basically_satisfied) > electorate:
        return "basically_satisfied"
    return "dissatisfied"


# --- the rule in plain words, before any vote ----------------------------------------------


def _wan(yuan: int) -> str:
    """Yuan as 万元 (ten thousands), without trailing zeros: 3000000 -> "300"."""
    return f"{yuan / 10_000:,.2f}".rstrip("0").rstrip(".")


def _threshold_preview(t: Threshold, electorate: int, lang: str) -> str:
    """Which projects pass, in words; the number of votes once the electorate is known."""
    need = t.required(electorate=electorate, cast=0) if electorate else None
    if lang == "en":
        at_least = f" (at least {need})" if need is not None else ""
        if t.kind == ThresholdKind.majority_of_all:
            of = f"all {electorate} deputies" if electorate else "all deputies"
            return f'a project passes with "for" votes from more than half of {of}{at_least}'
        if t.kind == ThresholdKind.majority_of_cast:
            return 'a project passes with "for" votes from more than half of the ballots cast'
        if t.kind == ThresholdKind.fraction:
            of = f"all {electorate} deputies" if electorate else "all deputies"
            return f'a project passes with "for" votes from at least {t.fraction} of {of}{at_least}'
        if t.kind == ThresholdKind.min_votes:
            return f'a project passes with at least {t.min_votes} "for" votes'
        return "every project passes (no threshold)"
    at_least = f"（至少 {need} 票）" if need is not None else ""
    if t.kind == ThresholdKind.majority_of_all:
        of = f"全体代表（{electorate} 名）" if electorate else "全体代表"
        return f"获得{of}过半数赞成{at_least}的项目通过"
    if t.kind == ThresholdKind.majority_of_cast:
        return "获得所投票数过半数赞成的项目通过"
    if t.kind == ThresholdKind.fraction:
        of = f"全体代表（{electorate} 名）" if electorate else "全体代表"
        return f"赞成票达到{of}的 {t.fraction}{at_least}的项目通过"
    if t.kind == ThresholdKind.min_votes:
        return f"获得至少 {t.min_votes} 票赞成的项目通过"
    return "不设票数门槛，所有项目均参与排序"


def rule_preview(
    config: RuleConfig,
    *,
    electorate: int = 0,
    satisfaction: bool = False,
    max_for_per_ballot: int | None = None,
    lang: str = "zh-CN",
) -> str:
    """What a deputy is asked and how the count decides, in plain words, before any vote.

    ``rule_text`` explains a counted result (it needs the ballots cast); this is for the
    office setting a session up, so it speaks only of the configuration and the electorate.
    """
    en = lang == "en"
    if satisfaction:
        if en:
            return (
                "Each deputy rates each project satisfied, basically satisfied or dissatisfied; "
                "a project is rated satisfied when more than half of all deputies say so, "
                "basically satisfied when satisfied and basically satisfied together do, "
                "otherwise dissatisfied."
            )
        return (
            "每位代表对每个项目评价满意、基本满意或不满意；满意票超过全体代表半数为满意，"
            "满意与基本满意合计超过半数为基本满意，否则为不满意。"
        )
    th = _threshold_preview(config.threshold, electorate, lang)
    if en:
        ballot = "Each deputy may vote for, against or abstain on each project"
        if max_for_per_ballot is not None:
            ballot += f' (at most {max_for_per_ballot} "for" votes per ballot)'
        pick = (
            f'; {th}; passing projects are ranked by "for" votes and selected in that order '
            f"within the budget of {config.budget:,} yuan"
        )
        if config.max_selected is not None:
            pick += f", at most {config.max_selected} projects"
        fit = (
            "; the selection stops at the first project that does not fit."
            if config.on_no_fit == OnNoFit.stop
            else "; a project that does not fit is skipped."
        )
        return ballot + pick + fit
    ballot = "每位代表可对每个项目投赞成、反对或弃权"
    if max_for_per_ballot is not None:
        ballot += f"（每张选票至多投 {max_for_per_ballot} 个赞成）"
    pick = f"；{th}，按赞成票由多到少排序，在预算 {_wan(config.budget)} 万元内依次入选"
    if config.max_selected is not None:
        pick += f"，最多选出前 {config.max_selected} 项"
    fit = (
        "；遇到放不下的项目即停止选择。"
        if config.on_no_fit == OnNoFit.stop
        else "；放不下的项目跳过，继续考虑下一个。"
    )
    return ballot + pick + fit
