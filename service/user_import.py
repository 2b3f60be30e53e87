"""Deputy accounts from a spreadsheet (.csv or .xlsx): a preview naming every bad row, then one
all-or-nothing commit.

Columns (header in row 1, any order, English or Chinese names): ``username`` (用户名),
``display_name`` (姓名), ``role`` (角色, default ``deputy``). The preview checks every row against
the file and the database and writes nothing; each problem is a code the page words in the
reader's language: ``username`` (not 2-64 of letters, digits and ``_ . @ -``), ``taken`` (an
account has it, any case), ``duplicate`` (twice in the file, any case), ``display_name`` (empty,
too long or with control characters), ``role`` (not deputy or evaluator: admins are made one at
a time on the accounts page). The commit repeats the checks and creates every account in the
caller's transaction only when no row is bad, each with its own initial password, each audited.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from openpyxl import load_workbook
from sqlalchemy import func
from sqlmodel import Session, select

from service import audit
from service.errors import AppError
from service.models import Role, User, UserCreate
from service.users import create_user

MAX_ROWS = 300  # each account costs a password hash (about 0.1 s): bounded so a file stays quick
MAX_UNPACKED_BYTES = 20_000_000
XLSX_MAGIC = b"PK\x03\x04"
USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{2,64}$")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
IMPORTABLE = (Role.deputy, Role.evaluator)
HEADERS = {
    "username": "username",
    "用户名": "username",
    "账号": "username",
    "display_name": "display_name",
    "name": "display_name",
    "姓名": "display_name",
    "名称": "display_name",
    "role": "role",
    "角色": "role",
}
# A role may be written as its code or its Chinese or English label.
ROLE_WORDS = {
    "deputy": Role.deputy,
    "人大代表": Role.deputy,
    "代表": Role.deputy,
    "evaluator": Role.evaluator,
    "评价人员": Role.evaluator,
    "admin": Role.admin,
    "administrator": Role.admin,
    "管理员": Role.admin,
}


class ImportFileError(AppError):
    """The file itself cannot be read; ``code`` says why (the page words it)."""

    status_code = 422

    def __init__(self, code: str) -> None:
        super().__init__(f"user import: {code}")
        self.code = code


@dataclass
class ImportRow:
    """One data row as read (line: its row number in the file), with its problem codes."""

    line: int
    username: str
    display_name: str
    role: str
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "username": self.username,
            "display_name": self.display_name,
            "role": self.role,
        }


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _table(data: bytes, filename: str) -> list[list[str]]:
    """The file's cells as text, row by row (CSV in UTF-8, or the first sheet of a workbook)."""
    if not data.strip():
        raise ImportFileError("empty")
    if data.startswith(XLSX_MAGIC) or filename.lower().endswith(".xlsx"):
        return _xlsx_table(data)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFileError("encoding") from None
    rows = []
    for n, row in enumerate(csv.reader(io.StringIO(text))):
        if n > MAX_ROWS + 1:
            raise ImportFileError("too_many")
        rows.append([_text(c) for c in row])
    return rows


def _xlsx_table(data: bytes) -> list[list[str]]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            # A small file that unzips to gigabytes is refused before openpyxl unpacks it.
            if sum(i.file_size for i in z.infolist()) > MAX_UNPACKED_BYTES:
                raise ImportFileError("too_big")
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except ImportFileError:
        raise
    except Exception:  # openpyxl raises many kinds for a damaged or foreign file
        raise ImportFileError("unreadable") from None
    try:
        rows = []
        for n, row in enumerate(wb.worksheets[0].iter_rows(values_only=True)):
            if n > MAX_ROWS + 1:
                raise ImportFileError("too_many")
            rows.append([_text(c) for c in row])
        return rows
    finally:
        wb.close()


def read_rows(data: bytes, *, filename: str = "") -> list[ImportRow]:
    """The data rows of an uploaded file (blank rows skipped); ImportFileError if unreadable."""
    table = _table(data, filename)
    if not table:
        raise ImportFileError("empty")
    header = [HEADERS.get(h.lower(), "") for h in table[0]]
    if "username" not in header:
        raise ImportFileError("columns")
    columns: tuple[str, ...] = ("username", "display_name", "role")
    where: dict[str, int] = {name: header.index(name) for name in columns if name in header}

    def cell(row: list[str], name: str) -> str:
        i = where.get(name)
        return row[i] if i is not None and i < len(row) else ""

    rows = [
        ImportRow(n, cell(r, "username"), cell(r, "display_name"), cell(r, "role"))
        for n, r in enumerate(table[1:], start=2)
        if any(r)
    ]
    if not rows:
        raise ImportFileError("empty")
    if len(rows) > MAX_ROWS:
        raise ImportFileError("too_many")
    return rows


def role_of(word: str) -> Role | None:
    """The role a cell names (blank: deputy), or None for a word that names none."""
    if not word:
        return Role.deputy
    return ROLE_WORDS.get(word.lower())


def check_rows(session: Session, *, rows: list[ImportRow]) -> list[ImportRow]:
    """Fill in every row's problems against the file and the stored accounts; returns rows."""
    names = [r.username.lower() for r in rows]
    taken = set()
    if names:
        query = select(User.username).where(func.lower(User.username).in_(names))
        taken = {u.lower() for u in session.exec(query)}
    seen: dict[str, int] = {}
    for r in rows:
        r.problems = []
        key = r.username.lower()
        if not USERNAME.fullmatch(r.username):
            r.problems.append("username")
        elif key in taken:
            r.problems.append("taken")
        elif key in seen:
            r.problems.append("duplicate")
        seen.setdefault(key, r.line)
        if not r.display_name or len(r.display_name) > 128 or CONTROL.search(r.display_name):
            r.problems.append("display_name")
        role = role_of(r.role)
        if role is None or role not in IMPORTABLE:
            r.problems.append("role")
    return rows


def import_users(
    session: Session, *, actor: str, rows: list[ImportRow], new_password: Callable[[], str]
) -> list[tuple[User, str]] | None:
    """Create every row's account with a fresh initial password, all or none: None (nothing
    written) when a row is bad, the problems left on the rows."""
    check_rows(session, rows=rows)
    if any(r.problems for r in rows):
        return None
    created = []
    for r in rows:
        role = role_of(r.role) or Role.deputy
        password = new_password()
        data = UserCreate(
            username=r.username, display_name=r.display_name, role=role, password=password
        )
        user = create_user(session, data=data)
        audit.record(
            session,
            actor=actor,
            action="user.create",
            target=user.username,
            role=role.value,
            via="import",
        )
        created.append((user, password))
    audit.record(session, actor=actor, action="user.import", target="", count=len(created))
    return created
