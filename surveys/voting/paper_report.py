"""The count report (计票报告): each candidate's votes split electronic + paper, for the file."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from service.errors import Conflict
from surveys.voting.models import VotingSession
from surveys.voting.paper import counted, paper_choices, paper_row


def report_rows(session: Session, *, vs: VotingSession) -> list[dict[str, Any]]:
    """Per candidate of a counted session: each choice's total, split electronic + paper."""
    if vs.result is None:
        raise Conflict("计票报告在结束表决、计票之后才有 (the session is not counted yet)")
    row = paper_row(session, vs)
    on_paper = row.counts if counted(row) and row is not None else {}
    out = []
    for r in vs.result["projects"]:  # the kept JSON names each choice as the ballot does
        sheets = on_paper.get(str(r["project_id"]), {})
        split = [
            (c, int(r[c]) - int(sheets.get(c, 0)), int(sheets.get(c, 0))) for c in paper_choices(vs)
        ]
        out.append({"project_id": r["project_id"], "title": r["title"], "split": split})
    return out
