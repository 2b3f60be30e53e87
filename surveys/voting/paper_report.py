"""The count report (计票报告): each candidate's votes split electronic + paper, for the file."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from service.errors import Conflict
from surveys.voting.models import VotingSession
from surveys.voting.paper import counted, paper_choices, paper_row
from surveys.voting.results import electronic_tallies


def report_rows(session: Session, *, vs: VotingSession) -> list[dict[str, Any]]:
    """Per candidate of a counted session: each choice's electronic and paper votes, each
    from its own records (the ballots kept, the scrutineers' count). A void vote keeps its
    result at zero, yet the report still states what was received; the page says it is void."""
    if vs.result is None:
        raise Conflict("计票报告在结束表决、计票之后才有 (the session is not counted yet)")
    row = paper_row(session, vs)
    on_paper = row.counts if counted(row) and row is not None else {}
    on_device = electronic_tallies(session, vs)
    out = []
    for r in vs.result["projects"]:
        pid = int(r["project_id"])
        sheets = on_paper.get(str(pid), {})
        marks = on_device.get(pid, {})
        split = [(c, int(marks.get(c, 0)), int(sheets.get(c, 0))) for c in paper_choices(vs)]
        out.append({"project_id": pid, "title": r["title"], "split": split})
    return out


def zone_words(zone: str) -> str:
    """The time zone a report's times are in, as the report names it."""
    return "北京时间" if zone == "Asia/Shanghai" else zone
