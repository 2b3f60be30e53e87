"""Cells safe for a spreadsheet: text that Excel or LibreOffice would run as a formula (starting
with = + - @, a tab or a carriage return) gets a leading apostrophe. Every spreadsheet or CSV the
product writes with user text (response exports and their codebook, dashboard tables, the
XLSForm questionnaire) goes through ``neutralise``; this is the one rule.

Reading: ``read_table_file`` is the one reader of uploaded tables keyed by column (units,
subjects, assessment scores): .xlsx or .csv in UTF-8 or GB18030, a workbook's unpacked size
bounded, rows bounded."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from openpyxl import load_workbook

from service.errors import Invalid

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula, made inert; anything else unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def restore(value: Any) -> Any:
    """The inverse of ``neutralise``, for reading back a workbook the product wrote."""
    if isinstance(value, str) and value.startswith("'") and value[1:].startswith(FORMULA_START):
        return value[1:]
    return value


# --- reading an uploaded table (units, subjects, scores) ------------------------------------

XLSX_MAGIC = b"PK\x03\x04"
MAX_UNPACKED_BYTES = 20_000_000


def cell_text(value: Any) -> str:
    """A cell as the text a person typed: a code typed as 101 comes back from a workbook as
    101.0, a date as a datetime; both are given back as typed (ISO dates)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _file_error(msg: str) -> Invalid:
    return Invalid.field(("body", "file"), msg)


def keyed_rows(
    lines: list[list[str]], *, columns: Sequence[str], required: Sequence[str], max_rows: int
) -> list[dict[str, str]]:
    """Rows keyed by the header's column names (case and spaces ignored; unknown columns
    dropped); blank rows kept, so row numbers match the file. 422 naming the file when a
    required column is missing, there are no data rows or too many."""
    if not lines:
        raise _file_error("the file is empty")
    names = [h.strip().lower() for h in lines[0]]
    missing = [c for c in required if c not in names]
    if missing:
        raise _file_error(f"missing column(s): {', '.join(missing)}")
    rows = []
    for values in lines[1:]:
        row = {n: v for n, v in zip(names, values, strict=False) if n in columns}
        rows.append({c: row.get(c, "") for c in columns})
    if not any(any(r.values()) for r in rows):
        raise _file_error("the file has no data rows")
    if len(rows) > max_rows:
        raise _file_error(f"at most {max_rows} rows per import")
    return rows


def read_table_file(
    data: bytes, *, columns: Sequence[str], required: Sequence[str], max_rows: int
) -> list[dict[str, str]]:
    """The rows of an uploaded .xlsx (first sheet) or .csv (UTF-8, or GB18030 as Excel saves
    it in China), keyed by column (``keyed_rows``)."""
    if not data.strip():
        raise _file_error("the file is empty")
    if data.startswith(XLSX_MAGIC):
        lines = _xlsx_lines(data, max_rows)
        return keyed_rows(lines, columns=columns, required=required, max_rows=max_rows)
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        lines = [[cell_text(v) for v in line] for line in csv.reader(io.StringIO(text))]
        return keyed_rows(lines, columns=columns, required=required, max_rows=max_rows)
    raise _file_error("not a UTF-8 or GB18030 CSV file")


def _xlsx_lines(data: bytes, max_rows: int) -> list[list[str]]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            # A small file that unzips to gigabytes is refused before openpyxl unpacks it.
            too_big = sum(i.file_size for i in z.infolist()) > MAX_UNPACKED_BYTES
        if too_big:
            raise _file_error("the workbook unpacks to more than 20 MB")
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Invalid:
        raise
    except Exception:  # openpyxl raises many kinds for a damaged or foreign file
        raise _file_error("not a readable .xlsx workbook") from None
    try:
        lines = []
        for row in book.worksheets[0].iter_rows(values_only=True):
            lines.append([cell_text(v) for v in row])
            if len(lines) > max_rows + 1:  # the header and one row too many: keyed_rows says so
                break
        return lines
    finally:
        book.close()
