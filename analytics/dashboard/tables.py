"""Tables as downloads: CSV (UTF-8 with BOM, so Excel reads Chinese) and XLSX.

Cells that a spreadsheet would run as a formula (text starting with = + - @, tab or carriage
return) are neutralised with a leading apostrophe: comments and names are user text.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from service.spreadsheet import neutralise


def columns_of(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every key of the rows, in first-seen order."""
    seen: dict[str, None] = {}
    for r in rows:
        for k in r:
            seen.setdefault(k, None)
    return list(seen)


def cell(value: Any) -> Any:
    """A value safe for a spreadsheet cell: numbers stay numbers, text cannot be a formula."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return "" if isinstance(value, float) and not math.isfinite(value) else value
    if isinstance(value, Mapping | list | tuple):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return neutralise(str(value))


def to_csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> bytes:
    """CSV bytes with a UTF-8 byte order mark and a header row."""
    cols = list(columns or columns_of(rows))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([cell(c) for c in cols])
    for r in rows:
        writer.writerow([cell(r.get(c)) for c in cols])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def to_xlsx(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None, *, title: str = "data"
) -> bytes:
    """An XLSX workbook with one sheet; text cells are stored as text, never as formulas."""
    from openpyxl import Workbook

    cols = list(columns or columns_of(rows))
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title=_sheet_title(title))
    ws.append([cell(c) for c in cols])
    for r in rows:
        ws.append([cell(r.get(c)) for c in cols])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _sheet_title(title: str) -> str:
    clean = "".join(ch for ch in title if ch not in "[]:*?/\\")
    return (clean or "data")[:31]
