"""Units from a spreadsheet (.xlsx or .csv): a preview that names every bad row, then a commit.

Columns: ``code``, ``name`` (Chinese), ``name_en``, ``kind``, ``parent_code`` (header in row 1,
any order, case-insensitive). The preview checks every row against the file and the database
(required cells, the code's form, an unknown kind, a code twice in the file or already stored,
a parent that is neither in the file nor stored, a parent chain that loops) and writes nothing.
The commit repeats those checks and writes all rows in the caller's transaction only when none
is bad; otherwise it raises one 422 naming every bad row and column (``loc: ["row", n, col]``).
A parent may come later in the file than its children: rows are written parents first.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import BaseModel
from sqlmodel import Session, select

from service import audit
from service.errors import Invalid
from service.spreadsheet import cell_text, keyed_rows, read_table_file
from surveys.units.models import Unit, UnitKind

COLUMNS = ("code", "name", "name_en", "kind", "parent_code")
REQUIRED = ("code", "name", "kind")
MAX_ROWS = 10_000
CODE = re.compile(r"^[A-Za-z0-9_.:-]+$")
KINDS = ", ".join(k.value for k in UnitKind)


class ImportReason(BaseModel):
    """Why a cell is refused, for a translated message: the reason and the one value it names."""

    type: str
    value: str = ""


class ImportRowPublic(BaseModel):
    """One data row of the file as read, with its problems by column (none: the row is good)."""

    row: int
    code: str
    name: str
    name_en: str
    kind: str
    parent_code: str
    errors: dict[str, str]
    reasons: dict[str, ImportReason]


class ImportProblem(BaseModel):
    """One bad cell: the file's row number (the header is row 1), the column and the reason."""

    row: int
    column: str
    msg: str


class UnitImportResult(BaseModel):
    """What an import found (preview) or wrote (commit)."""

    dry_run: bool
    valid: bool
    count: int
    imported: int
    rows: list[ImportRowPublic]
    errors: list[ImportProblem]


@dataclass
class Checked:
    """A row being checked."""

    row: int
    cells: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, ImportReason] = field(default_factory=dict)

    def cell(self, name: str) -> str:
        return self.cells.get(name, "")

    def refuse(self, column: str, msg: str, reason: str, value: str = "") -> None:
        # The first problem of a cell is the one to fix first; later ones follow from it.
        if column not in self.errors:
            self.errors[column] = msg
            self.reasons[column] = ImportReason(type=reason, value=value)


def read_csv_text(text: str) -> list[dict[str, str]]:
    """The rows of a units CSV, keyed by column; blank rows kept so row numbers match the file."""
    lines = [
        [cell_text(v) for v in line] for line in csv.reader(io.StringIO(text.lstrip("\ufeff")))
    ]
    return keyed_rows(lines, columns=COLUMNS, required=REQUIRED, max_rows=MAX_ROWS)


def read_units_file(data: bytes) -> list[dict[str, str]]:
    """The rows of an uploaded .xlsx (first sheet) or .csv (UTF-8, or GB18030 from Excel)."""
    return read_table_file(data, columns=COLUMNS, required=REQUIRED, max_rows=MAX_ROWS)


def _check_cells(item: Checked) -> None:
    code, name, kind = item.cell("code"), item.cell("name"), item.cell("kind")
    if not code:
        item.refuse("code", "missing code", "missing")
    elif len(code) > 64 or not CODE.match(code):
        item.refuse("code", "a code has at most 64 letters, digits and _.:-", "code_form")
    if not name:
        item.refuse("name", "missing name", "missing")
    elif len(name) > 200:
        item.refuse("name", "at most 200 characters", "too_long", "200")
    if len(item.cell("name_en")) > 200:
        item.refuse("name_en", "at most 200 characters", "too_long", "200")
    if not kind:
        item.refuse("kind", f"missing kind (one of {KINDS})", "missing")
    elif kind not in UnitKind.__members__:
        item.refuse("kind", f"unknown kind '{kind}' (one of {KINDS})", "kind", kind)


def _check_loops(checked: list[Checked], first: dict[str, Checked]) -> None:
    """Mark every row whose parent chain inside the file comes back to itself."""
    for item in checked:
        chain = [item.cell("code")]
        parent = item.cell("parent_code")
        while parent in first and parent not in chain:
            chain.append(parent)
            parent = first[parent].cell("parent_code")
        if parent == item.cell("code"):
            loop = " -> ".join([*chain, parent])
            item.refuse("parent_code", f"the parent chain loops: {loop}", "loop", loop)


def check_rows(session: Session, *, rows: list[dict[str, str]]) -> list[Checked]:
    """Every non-blank row with its problems by column; nothing is written."""
    stored = set(session.exec(select(Unit.code)))
    checked = [
        Checked(row=n, cells={c: cell_text(r.get(c)) for c in COLUMNS})
        for n, r in enumerate(rows, start=2)  # row 1 is the header
        if any(cell_text(v) for v in r.values())
    ]
    first: dict[str, Checked] = {}
    for item in checked:
        _check_cells(item)
        code = item.cell("code")
        if not code or "code" in item.errors:
            continue
        if code in stored:
            item.refuse("code", f"code '{code}' already exists", "exists", code)
        elif code in first:
            item.refuse(
                "code",
                f"code '{code}' is also in row {first[code].row}",
                "twice",
                str(first[code].row),
            )
        else:
            first[code] = item
    for item in checked:
        parent = item.cell("parent_code")
        if parent and parent not in first and parent not in stored:
            item.refuse(
                "parent_code",
                f"unknown parent code '{parent}' (not in the file or stored)",
                "parent",
                parent,
            )
    _check_loops(checked, first)
    return checked


def _public(checked: list[Checked], *, dry_run: bool, imported: int) -> UnitImportResult:
    errors = [
        ImportProblem(row=i.row, column=c, msg=m)
        for i in checked
        for c in COLUMNS
        if (m := i.errors.get(c))
    ]
    return UnitImportResult(
        dry_run=dry_run,
        valid=not errors,
        count=len(checked),
        imported=imported,
        rows=[
            ImportRowPublic(row=i.row, **i.cells, errors=i.errors, reasons=i.reasons)
            for i in checked
        ],
        errors=errors,
    )


def preview_import(session: Session, *, rows: list[dict[str, str]]) -> UnitImportResult:
    """Check every row and say what an import would write; writes nothing."""
    return _public(check_rows(session, rows=rows), dry_run=True, imported=0)


def commit_import(
    session: Session,
    *,
    rows: list[dict[str, str]],
    actor: str | None = None,
    file: str = "",
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write every row (parents first), or none with a 422 naming each bad row and column."""
    checked = check_rows(session, rows=rows)
    result = _public(checked, dry_run=False, imported=0)
    if result.errors:
        raise Invalid(
            [
                {"loc": ["row", e.row, e.column], "msg": e.msg, "type": "value_error"}
                for e in result.errors
            ]
        )
    ids = {code: uid for code, uid in session.exec(select(Unit.code, Unit.id))}
    pending = checked
    done = 0
    while pending:
        # The checks guarantee no loop, so each pass places at least one row.
        ready = [i for i in pending if not i.cell("parent_code") or i.cell("parent_code") in ids]
        for item in ready:
            unit = Unit(
                code=item.cell("code"),
                name=item.cell("name"),
                name_en=item.cell("name_en"),
                kind=UnitKind(item.cell("kind")),
                parent_id=ids.get(item.cell("parent_code")) if item.cell("parent_code") else None,
            )
            session.add(unit)
            session.flush()
            ids[unit.code] = unit.id
            done += 1
            if progress:
                progress(done)
        placed = {i.row for i in ready}
        pending = [i for i in pending if i.row not in placed]
    if actor is not None:
        audit.record(session, actor=actor, action="unit.import", target=file, count=len(checked))
    return len(checked)


def import_result(count: int) -> UnitImportResult:
    """The API's answer after a commit of ``count`` rows."""
    return UnitImportResult(
        dry_run=False, valid=True, count=count, imported=count, rows=[], errors=[]
    )
