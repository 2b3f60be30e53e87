"""Entered scores from a spreadsheet (.xlsx or .csv): a preview naming every bad row, then a
commit that writes all rows or none, as the units import does.

Columns (header in row 1, any order, case-insensitive): ``subject_id``, ``source`` (results or
reform), ``score`` (0-100), ``source_text``, and optionally ``ci_low`` and ``ci_high``. A row
is refused for a missing or malformed cell, a subject that does not exist or is of the other
kind, an interval that does not hold the score, and a (subject, source) twice in the file or
already entered."""

from __future__ import annotations

from pydantic import BaseModel, ValidationError
from sqlmodel import Session, select

from analytics.assessment.models import Assessment, AssessmentScore
from analytics.assessment.schemas import ScoreCreate
from analytics.assessment.service import add_score
from service import audit
from service.errors import Invalid
from service.spreadsheet import read_table_file
from surveys.evaluation.models import EvaluationSubject

COLUMNS = ("subject_id", "source", "score", "ci_low", "ci_high", "source_text")
REQUIRED = ("subject_id", "source", "score", "source_text")
MAX_ROWS = 5_000


class ScoreImportRow(BaseModel):
    """One data row as read, with its problems by column (none: the row is good)."""

    row: int
    cells: dict[str, str]
    errors: dict[str, str]


class ScoreImportResult(BaseModel):
    """What an import found (preview) or wrote (commit)."""

    dry_run: bool
    valid: bool
    count: int
    imported: int
    rows: list[ScoreImportRow]


def read_scores_file(data: bytes) -> list[dict[str, str]]:
    """The rows of an uploaded .xlsx (first sheet) or .csv (UTF-8, or GB18030 from Excel)."""
    return read_table_file(data, columns=COLUMNS, required=REQUIRED, max_rows=MAX_ROWS)


def check_rows(
    session: Session, *, assessment: Assessment, rows: list[dict[str, str]]
) -> list[tuple[ScoreImportRow, ScoreCreate | None]]:
    """Every non-blank row checked against the file and the database; writes nothing."""
    kind = assessment.config["kind"]
    stored = set(
        session.exec(
            select(AssessmentScore.subject_id, AssessmentScore.source).where(
                AssessmentScore.assessment_id == assessment.id
            )
        ).all()
    )
    seen: set[tuple[int, str]] = set()
    out: list[tuple[ScoreImportRow, ScoreCreate | None]] = []
    for offset, cells in enumerate(rows):
        if not any(cells.values()):
            continue
        item = ScoreImportRow(row=offset + 2, cells=cells, errors={})
        data: ScoreCreate | None = None
        for column in ("subject_id", "score", "ci_low", "ci_high"):
            if not _is_number(cells[column]):
                item.errors[column] = "not a number"
        if not item.errors:
            try:
                # Pydantic checks the types: the cells go in as read.
                data = ScoreCreate.model_validate(
                    {c: cells[c] or None for c in COLUMNS} | {"source_text": cells["source_text"]}
                )
            except ValidationError as exc:
                for err in exc.errors():
                    column = str(err["loc"][0]) if err["loc"] else "score"
                    item.errors.setdefault(column if column in COLUMNS else "score", err["msg"])
        if data is not None:
            subject = session.get(EvaluationSubject, data.subject_id)
            if subject is None:
                item.errors["subject_id"] = f"subject {data.subject_id} not found"
            elif str(getattr(subject.kind, "value", subject.kind)) != kind:
                item.errors["subject_id"] = f"subject {data.subject_id} is not a {kind}"
            key = (data.subject_id, data.source)
            if key in stored:
                item.errors["source"] = "this subject already has a score from this source"
            elif key in seen:
                item.errors["source"] = "this subject and source are in the file twice"
            seen.add(key)
        out.append((item, None if item.errors else data))
    return out


def _is_number(cell: str) -> bool:
    if cell == "":
        return True
    try:
        float(cell)
    except ValueError:
        return False
    return True


def preview_import(
    session: Session, *, assessment: Assessment, rows: list[dict[str, str]]
) -> ScoreImportResult:
    """Every row with its problems; nothing is written."""
    checked = check_rows(session, assessment=assessment, rows=rows)
    items = [c[0] for c in checked]
    valid = bool(items) and not any(i.errors for i in items)
    return ScoreImportResult(dry_run=True, valid=valid, count=len(items), imported=0, rows=items)


def commit_import(
    session: Session,
    *,
    assessment: Assessment,
    rows: list[dict[str, str]],
    actor: str,
    file: str = "",
) -> ScoreImportResult:
    """Write every row in the caller's transaction, or none with one 422 naming each bad cell."""
    checked = check_rows(session, assessment=assessment, rows=rows)
    problems = [
        {"loc": ["row", item.row, column], "msg": msg, "type": "value_error"}
        for item, _ in checked
        for column, msg in item.errors.items()
    ]
    if not checked:
        raise Invalid.field(("body", "file"), "the file has no data rows")
    if problems:
        raise Invalid(problems)
    for _, data in checked:
        assert data is not None
        add_score(session, assessment=assessment, data=data, actor=actor)
    audit.record(
        session,
        actor=actor,
        action="assessment.score.import",
        target=f"assessment:{assessment.id}",
        rows=len(checked),
        file=file,
    )
    items = [c[0] for c in checked]
    return ScoreImportResult(
        dry_run=False, valid=True, count=len(items), imported=len(items), rows=items
    )
