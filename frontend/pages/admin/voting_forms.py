"""Reading the voting-session forms of the console: the session's fields into the API's
``SessionCreate`` / ``SessionUpdate``, errors by field in the page's language, and the list of
usernames of an imported electorate (CSV or XLSX)."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any

from fastapi import Depends, Request
from openpyxl import load_workbook
from pydantic import ValidationError

from frontend.i18n import translate
from service.errors import Invalid

# The text fields of the session form, in the order of the form.
TEXT_FIELDS = (
    "kind",
    "title",
    "title_en",
    "year",
    "budget_cap",
    "threshold_kind",
    "threshold_value",
    "max_selected",
    "max_for_per_ballot",
    "on_no_fit",
    "mode",
    "quorum",
    "ballot_method",
    "on_tie",
)
THRESHOLD_KINDS = ("majority_of_all", "majority_of_cast", "fraction", "min_votes", "none")
# Header cells an imported list may start with (not usernames).
HEADERS = {"username", "usernames", "用户名", "账号", "代表"}
MAX_IMPORT_BYTES = 2_000_000


async def _posted(request: Request) -> dict[str, list[str]]:
    """Every text field of the posted form, repeated ones (checkboxes) as lists."""
    form = await request.form()
    out: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            out.setdefault(key, []).append(value)
    return out


Posted = Annotated[dict[str, list[str]], Depends(_posted)]


def kept_fields(posted: dict[str, list[str]]) -> dict[str, Any]:
    """The form as typed, to show it again: text fields and the ticked project ids."""
    form: dict[str, Any] = {k: (posted.get(k) or [""])[0].strip() for k in TEXT_FIELDS}
    form["project_ids"] = [v for v in posted.get("project_ids", []) if v.isdigit()]
    return form


def threshold_of(form: dict[str, Any]) -> Any:
    """The API form of the threshold from its two fields (kind, and a number for two kinds)."""
    kind, value = form["threshold_kind"], form["threshold_value"]
    if kind == "fraction":
        return {"fraction": value}
    if kind == "min_votes":
        return {"min_votes": int(value) if value.isdigit() else value}
    return kind or "majority_of_all"


def _number(form: dict[str, Any], name: str, errors: dict[str, str], lang: str) -> int | None:
    raw = form[name].replace(",", "").replace("，", "")
    if raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        errors[name] = translate(lang, f"admin.voting.error.{name}")
        return None


def session_body(form: dict[str, Any], lang: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The API body of the session form, or the errors of its fields."""
    errors: dict[str, str] = {}
    numbers = {
        n: _number(form, n, errors, lang)
        for n in ("year", "budget_cap", "max_selected", "max_for_per_ballot")
    }
    body: dict[str, Any] = {
        "kind": form["kind"] or "selection",
        "title": form["title"],
        "title_en": form["title_en"],
        "year": numbers["year"],
        "project_ids": [int(v) for v in form["project_ids"]],
        "budget_cap": numbers["budget_cap"] or 0,
        "max_selected": numbers["max_selected"],
        "max_for_per_ballot": numbers["max_for_per_ballot"],
        "threshold": threshold_of(form),
        "on_no_fit": form["on_no_fit"] or "skip",
        "on_tie": form["on_tie"] or "rule",
    }
    # The hall vote's fields; left out when blank, so a form without them keeps what is saved.
    for name in ("mode", "quorum", "ballot_method"):
        if form.get(name):
            body[name] = form[name]
    if numbers["year"] is None:
        errors.setdefault("year", translate(lang, "admin.voting.error.year"))
    if form["threshold_kind"] not in THRESHOLD_KINDS:
        errors["threshold_kind"] = translate(lang, "admin.voting.error.threshold_kind")
    return body, errors


def field_of(loc: tuple[Any, ...] | list[Any]) -> str:
    """The form field an API error location points at."""
    parts = [str(p) for p in loc if p != "body"]
    name = parts[0] if parts else "title"
    if name == "threshold":
        return "threshold_value"
    return name


def validation_errors(exc: ValidationError | Invalid, lang: str) -> dict[str, str]:
    """The errors of a refused body (pydantic's or the service's), by form field."""
    items = exc.errors() if isinstance(exc, ValidationError) else exc.errors
    errors: dict[str, str] = {}
    for item in items:
        name = field_of(item["loc"])
        if name not in TEXT_FIELDS and name != "project_ids":
            name = "title"
        errors.setdefault(name, translate(lang, f"admin.voting.error.{name}"))
    return errors


def usernames_from_file(name: str, data: bytes) -> list[str]:
    """The usernames of an imported list: the first column of a CSV or of an XLSX's first
    sheet, blank cells and a header row skipped. ValueError when the file cannot be read."""
    if len(data) > MAX_IMPORT_BYTES:
        raise ValueError("too large")
    cells: list[str] = []
    if name.lower().endswith(".xlsx"):
        try:
            book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a file that is not XLSX
            raise ValueError("not an XLSX file") from exc
        sheet = book.worksheets[0]
        for row in sheet.iter_rows(max_col=1, values_only=True):
            cells.append("" if row[0] is None else str(row[0]))
        book.close()
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            try:
                text = data.decode("gb18030")
            except UnicodeDecodeError as exc:
                raise ValueError("not a text file") from exc
        cells = [row[0] if row else "" for row in csv.reader(io.StringIO(text))]
    names: list[str] = []
    for i, cell in enumerate(cells):
        value = cell.strip()
        if not value or (i == 0 and value.lower() in HEADERS) or value in names:
            continue
        names.append(value)
    return names
