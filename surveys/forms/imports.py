"""Importing responses collected on paper, by phone or in another tool: all or nothing.

Rows are shaped like the public submission (plus an optional ``submitted_at``, when the answer
was given). Every row is checked exactly as a web response is (without an invitation code);
one bad row rejects the whole import with a 422 naming every bad row, field and reason.
Otherwise all rows are stored in one transaction, marked ``source = "import"``, through the
same ``store_batch`` as the web (so the statistics are updated in the same transaction).
At most ``MAX_ROWS`` rows per import (422 naming the limit; the request body limit bounds bytes).
Parsing and checking are CPU work: the route runs them in the thread pool, off the event loop.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from typing import Any

from pydantic import AwareDatetime, ValidationError
from sqlmodel import Session

from service.db import utcnow
from service.errors import Conflict, Invalid
from surveys.forms.compiled import compile_campaign
from surveys.forms.models import Campaign, QuestionType
from surveys.forms.receiving import prepare
from surveys.forms.schemas import ResponseIn
from surveys.forms.service import submission_exists
from surveys.forms.store import Pending, Stored, store_batch

SOURCE = "import"
CHUNK = 2000
MAX_ROWS = 200_000
FIXED_COLUMNS = (
    "unit_code",
    "area_code",
    "age_band",
    "sex",
    "comment",
    "submission_id",
    "submitted_at",
)
_SPLIT = re.compile(r"[\s,;]+")


class ImportRow(ResponseIn):
    """One imported response: a public submission plus when it was given."""

    submitted_at: AwareDatetime | None = None


def _err(
    row: int, loc: list[Any] | tuple[Any, ...], msg: str, kind: str = "value_error"
) -> dict[str, Any]:
    return {"loc": ["row", row, *loc], "msg": msg, "type": kind, "row": row}


def parse_json(data: bytes | str) -> list[dict[str, Any]]:
    """A JSON array of objects (422 when it is anything else)."""
    try:
        rows = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Invalid.field(("body",), f"not valid JSON: {exc}") from None
    if not isinstance(rows, list):
        raise Invalid.field(("body",), "expected a JSON array of responses")
    _check_count(len(rows))
    bad = [
        _err(i, [], "expected an object")
        for i, r in enumerate(rows, start=1)
        if not isinstance(r, dict)
    ]
    if bad:
        raise Invalid(bad)
    return rows


def _check_count(n: int) -> None:
    if n > MAX_ROWS:
        raise Invalid.field(("body",), f"more than {MAX_ROWS} rows (the limit); split the file")


def parse_csv(text: str, question_types: dict[str, QuestionType]) -> list[dict[str, Any]]:
    """CSV rows (header: the fixed columns and one column per question key) as submissions.

    Multiple choices go in one cell, separated by spaces, commas or semicolons. Row numbers in
    errors are the CSV's line numbers (the header is row 1).
    """
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise Invalid.field(("body",), "the CSV is empty") from None
    unknown = [h for h in header if h and h not in FIXED_COLUMNS and h not in question_types]
    if unknown:
        raise Invalid([_err(1, [h], "unknown column (not a question key)") for h in unknown])
    if "unit_code" not in header:
        raise Invalid([_err(1, ["unit_code"], "missing column")])
    rows: list[dict[str, Any] | None] = []
    for values in reader:
        _check_count(len(rows) + 1)
        if not any(v.strip() for v in values):
            rows.append(None)
            continue
        cells = {
            h: (values[i].strip() if i < len(values) else "") for i, h in enumerate(header) if h
        }
        row: dict[str, Any] = {"unit_code": cells.get("unit_code", "")}
        for name in ("area_code", "comment", "submission_id", "submitted_at"):
            if cells.get(name):
                row[name] = cells[name]
        profile = {k: cells[k] for k in ("age_band", "sex") if cells.get(k)}
        if profile:
            row["profile"] = profile
        answers: dict[str, Any] = {}
        for key, qtype in question_types.items():
            raw = cells.get(key, "")
            if raw:
                answers[key] = (
                    [v for v in _SPLIT.split(raw) if v]
                    if qtype is QuestionType.multi_choice
                    else raw
                )
        row["answers"] = answers
        rows.append(row)
    # Keep the CSV's line numbers: blank lines count but hold no response.
    return [r if r is not None else {"__blank__": True} for r in rows]


def import_responses(
    session: Session,
    *,
    campaign: Campaign,
    rows: list[dict[str, Any]],
    secret: str,
    first_row: int = 1,
    progress: Callable[[int], None] | None = None,
    dry_run: bool = False,
) -> int:
    """Check every row, then store all of them in the caller's transaction (or none: 422).

    ``dry_run`` checks exactly the same way and stores nothing: the console's preview step."""
    form = compile_campaign(session, campaign)
    now = utcnow()
    errors: list[dict[str, Any]] = []
    pending: list[Pending] = []
    seen: dict[str, int] = {}
    keys: dict[str, int] = {}
    for n, raw in enumerate(rows, start=first_row):
        if raw.get("__blank__"):
            continue
        try:
            data = ImportRow.model_validate(raw)
        except ValidationError as exc:
            errors += [_err(n, list(e["loc"]), e["msg"], e["type"]) for e in exc.errors()]
            continue
        try:
            item = prepare(
                form,
                data,
                secret=secret,
                now=now,
                source=SOURCE,
                submitted_at=data.submitted_at,
            )
        except Invalid as exc:
            errors += [_err(n, [p for p in e["loc"] if p != "body"], e["msg"]) for e in exc.errors]
            continue
        if data.submitted_at is not None and not (
            form.opens_at <= data.submitted_at < form.closes_at
        ):
            errors.append(_err(n, ["submitted_at"], "outside the campaign's window"))
            continue
        if data.submission_id:
            if data.submission_id in seen:
                errors.append(
                    _err(n, ["submission_id"], f"the same as row {seen[data.submission_id]}")
                )
                continue
            seen[data.submission_id] = n
            keys[item.submission_key] = n
        pending.append(item)
    for key in submission_exists(session, campaign_id=form.campaign_id, keys=list(keys)):
        errors.append(_err(keys[key], ["submission_id"], "already stored (imported before?)"))
    if errors:
        errors.sort(key=lambda e: e["row"])
        raise Invalid(errors)
    if dry_run:
        return len(pending)
    conn = session.connection()
    done = 0
    for start in range(0, len(pending), CHUNK):
        chunk = pending[start : start + CHUNK]
        outcomes = store_batch(conn, chunk, now=now, enforce_window=False)
        if not all(isinstance(o, Stored) and o.created for o in outcomes):
            raise Conflict("Some rows clash with responses stored meanwhile; nothing was imported")
        done += len(chunk)
        if progress:
            progress(done)
    return done


def read_upload(data: bytes, *, filename: str = "", content_type: str = "") -> tuple[str, Any]:
    """("json", rows) or ("csv", text) from an uploaded file or request body."""
    kind = "json"
    if filename.lower().endswith(".csv") or "csv" in content_type:
        kind = "csv"
    elif not filename and not content_type.startswith("application/json"):
        kind = "json" if data.lstrip()[:1] in (b"[", b"{") else "csv"
    if kind == "json":
        return kind, parse_json(data)
    try:
        return kind, data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid.field(("file",), "the CSV must be UTF-8") from None


def question_types(session: Session, campaign: Campaign) -> dict[str, QuestionType]:
    """The campaign's question keys and types, in order (the CSV's answer columns)."""
    from surveys.forms.service import questions_of

    return {
        q.key: QuestionType(q.type) for q in questions_of(session, survey_id=campaign.survey_id)
    }


def rows_from_upload(
    session: Session, campaign: Campaign, data: bytes, *, filename: str = "", content_type: str = ""
) -> tuple[list[dict[str, Any]], int]:
    """Rows to import and the number of the first one (2 for CSV: the header is row 1)."""
    kind, payload = read_upload(data, filename=filename, content_type=content_type)
    if kind == "json":
        return payload, 1
    return parse_csv(payload, question_types(session, campaign)), 2


async def read_request(request: Any, what: str = "the CSV or JSON file") -> tuple[bytes, str, str]:
    """The uploaded file (multipart field ``file``) or the raw body, with name and type."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise Invalid.field(("body", "file"), f"attach {what} as 'file'")
        return await upload.read(), upload.filename or "", upload.content_type or ""
    return await request.body(), "", content_type
