"""Subjects from a spreadsheet (.xlsx or .csv): every row checked, each problem named by row and
column, and all rows written or none."""

from __future__ import annotations

import io
from datetime import date

from openpyxl import Workbook
from pydantic import BaseModel
from sqlmodel import Session, select

from service import audit
from service.errors import Invalid, error_item
from service.spreadsheet import neutralise, read_table_file
from surveys.evaluation.models import EvaluationSubject, SubjectKind
from surveys.units.models import Unit

COLUMNS = ["kind", "name", "post", "unit_code", "term_start", "term_end"]
REQUIRED = ["kind", "name"]
MAX_ROWS = 5000
# Chinese kind words accepted as well as the keys, as an office types them.
KIND_WORDS = {"班子": "team", "领导班子": "team", "干部": "leader", "领导干部": "leader"}


class RowProblem(BaseModel):
    row: int
    column: str
    msg: str
    # A stable key of the reason, for pages to say it in their language.
    reason: str = ""


class SubjectImportResult(BaseModel):
    dry_run: bool
    rows: int
    imported: int
    problems: list[RowProblem]


def read_subjects_file(data: bytes) -> list[dict[str, str]]:
    """The rows of an .xlsx (first sheet) or .csv (UTF-8, or GB18030 from Excel)."""
    return read_table_file(data, columns=COLUMNS, required=REQUIRED, max_rows=MAX_ROWS)


def _date(value: str) -> date | None:
    return date.fromisoformat(value) if value else None


def check_rows(
    session: Session, rows: list[dict[str, str]]
) -> tuple[list[EvaluationSubject], list[RowProblem]]:
    """The subjects the rows describe and every problem (row numbers as in the file, header 1)."""
    units = dict(session.exec(select(Unit.code, Unit.id)).all())
    existing = {
        (s.kind, s.name, s.post, s.unit_id) for s in session.exec(select(EvaluationSubject))
    }
    out: list[EvaluationSubject] = []
    problems: list[RowProblem] = []
    for n, row in enumerate(rows, start=2):
        if not any(row.values()):
            continue
        bad = len(problems)
        kind = KIND_WORDS.get(row["kind"], row["kind"].lower())
        if kind not in {k.value for k in SubjectKind}:
            problems.append(
                RowProblem(row=n, column="kind", msg="team or leader (班子 or 干部)", reason="kind")
            )
        if not row["name"]:
            problems.append(RowProblem(row=n, column="name", msg="required", reason="required"))
        elif len(row["name"]) > 200:
            problems.append(
                RowProblem(row=n, column="name", msg="at most 200 characters", reason="too_long")
            )
        if len(row["post"]) > 200:
            problems.append(
                RowProblem(row=n, column="post", msg="at most 200 characters", reason="too_long")
            )
        if row["unit_code"] and row["unit_code"] not in units:
            problems.append(
                RowProblem(row=n, column="unit_code", msg="unknown unit code", reason="unit")
            )
        terms: dict[str, date | None] = {}
        for col in ("term_start", "term_end"):
            try:
                terms[col] = _date(row[col])
            except ValueError:
                problems.append(
                    RowProblem(row=n, column=col, msg="a date as YYYY-MM-DD", reason="date")
                )
        start, end = terms.get("term_start"), terms.get("term_end")
        if start and end and end < start:
            problems.append(
                RowProblem(row=n, column="term_end", msg="before term_start", reason="term")
            )
        if len(problems) > bad:
            continue
        unit_id = units.get(row["unit_code"]) if row["unit_code"] else None
        key = (SubjectKind(kind), row["name"], row["post"], unit_id)
        if key in existing:
            problems.append(
                RowProblem(row=n, column="name", msg="this subject exists already", reason="exists")
            )
            continue
        existing.add(key)
        out.append(
            EvaluationSubject(
                kind=SubjectKind(kind),
                name=row["name"],
                post=row["post"],
                unit_id=unit_id,
                term_start=start,
                term_end=end,
            )
        )
    return out, problems


def import_subjects(
    session: Session, *, rows: list[dict[str, str]], dry_run: bool, actor: str, file: str = ""
) -> SubjectImportResult:
    """Check the rows; unless a dry run, write all (audited) or, when any is bad, none (422)."""
    subjects, problems = check_rows(session, rows)
    if dry_run:
        return SubjectImportResult(dry_run=True, rows=len(subjects), imported=0, problems=problems)
    if problems:
        raise Invalid([error_item(["row", p.row, p.column], p.msg) for p in problems])
    session.add_all(subjects)
    session.flush()
    audit.record(session, actor=actor, action="subject.import", count=len(subjects), file=file)
    return SubjectImportResult(
        dry_run=False, rows=len(subjects), imported=len(subjects), problems=[]
    )


def template_workbook() -> bytes:
    """An .xlsx with the columns and two example rows, to fill in and upload."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "subjects"
    sheet.append(COLUMNS)
    sheet.append(["team", "民政局领导班子", "", "dept-civil", "", ""])
    sheet.append(["leader", "张明", "局长", "dept-civil", "2024-01-01", "2028-12-31"])
    for row in sheet.iter_rows():
        for cell in row:
            cell.value = neutralise(cell.value)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
