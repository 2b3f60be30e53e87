"""Reading and writing the public Pabulib format (https://pabulib.org/format), pure.

A ``.pb`` file has three ``;``-separated sections: META (key;value), PROJECTS (one row
per project: project_id;cost;... ) and VOTES (one row per voter; for approval ballots the
``vote`` column lists the approved project ids, comma-separated).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from surveys.voting.rules import OnNoFit, RuleConfig, Threshold, ThresholdKind

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
