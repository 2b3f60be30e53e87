"""The audit log in the console: filter and page through the entries, verify the hash chain,
export the filtered entries as CSV, and download a backup of the database.

The chain is checked by ``service.audit.verify``, the function behind ``minyi audit verify``;
a backup is made by ``service.backup`` (SQLite's backup API or pg_dump), exactly as
``minyi backup`` makes it, in a private temporary folder removed before the download starts.
The CSV export and every backup download are written to the audit log.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, BinaryIO
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from sqlmodel import Session

from frontend.i18n import request_language, translate
from frontend.pages.admin.access import ConsoleAdmin, ConsoleRoute
from frontend.pages.admin.common import console_render, office_time
from service import audit
from service.audit import AuditFilter, VerifyResult
from service.backup import backup_file_name, discard, private_backup
from service.db import SessionDep, utcnow
from service.localtime import zone
from service.spreadsheet import neutralise

router = APIRouter(route_class=ConsoleRoute)

PER_PAGE = 50
CSV_COLUMNS = ("id", "at_local", "at_utc", "actor", "action", "target", "detail", "hash")


@dataclass
class Filters:
    """The filter form as typed (kept on the page) and as the query it means."""

    form: dict[str, str]
    where: AuditFilter
    errors: dict[str, str] = field(default_factory=dict)


def _local_day(value: str, tz: str) -> datetime | None:
    """Midnight of a YYYY-MM-DD day in the office's zone, as a UTC time; None if not a day."""
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return None
    return datetime.combine(day, time(), tzinfo=zone(tz)).astimezone(UTC)


def read_filters(request: Request) -> Filters:
    """The filters in the query string; days are whole days in the office's zone."""
    params = request.query_params
    form = {k: params.get(k, "").strip()[:64] for k in ("actor", "action", "from", "to")}
    lang = request_language(request)
    tz = request.app.state.settings.time_zone
    errors: dict[str, str] = {}
    since = until = None
    if form["from"]:
        since = _local_day(form["from"], tz)
        if since is None:
            errors["from"] = translate(lang, "admin.audit.err.date")
    if form["to"]:
        start = _local_day(form["to"], tz)
        if start is None:
            errors["to"] = translate(lang, "admin.audit.err.date")
        else:
            # The "to" day is included: the range ends at the next local midnight.
            until = _local_day((date.fromisoformat(form["to"]) + timedelta(days=1)).isoformat(), tz)
            if since is not None and start < since:
                errors["to"] = translate(lang, "admin.audit.err.order")
    where = AuditFilter(actor=form["actor"], action=form["action"], since=since, until=until)
    return Filters(form, where, errors)


def _page_number(raw: str) -> int:
    return int(raw) if raw.isdigit() and 0 < int(raw) < 1_000_000 else 1


def _query(form: dict[str, str], **extra: Any) -> str:
    kept = {k: v for k, v in form.items() if v} | {k: v for k, v in extra.items() if v}
    return urlencode(kept)


def _page(
    request: Request,
    session: Session,
    *,
    verified: VerifyResult | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    filters = read_filters(request)
    page = _page_number(request.query_params.get("page", ""))
    if filters.errors:
        total, entries = 0, []
        status_code = 422
    else:
        total = audit.count_entries(session, where=filters.where)
        pages = max(1, -(-total // PER_PAGE))
        page = min(page, pages)
        entries = audit.list_entries(
            session, where=filters.where, offset=(page - 1) * PER_PAGE, limit=PER_PAGE
        )
    pages = max(1, -(-total // PER_PAGE))
    ctx: dict[str, Any] = {
        "section": "audit",
        "entries": entries,
        "total": total,
        "page": page,
        "pages": pages,
        "prev_query": _query(filters.form, page=str(page - 1)) if page > 1 else None,
        "next_query": _query(filters.form, page=str(page + 1)) if page < pages else None,
        "csv_query": _query(filters.form),
        "form": filters.form,
        "errors": filters.errors,
        "actions": audit.known_actions(session),
        "verified": verified,
    }
    return console_render(request, "admin/audit.html", ctx, status_code=status_code)


@router.get("/admin/audit", response_class=HTMLResponse)
def audit_page(request: Request, admin: ConsoleAdmin, session: SessionDep) -> HTMLResponse:
    """The audit log, newest first, filtered by actor, action and days in the office's zone."""
    return _page(request, session)


@router.post("/admin/audit/verify", response_class=HTMLResponse)
def verify_page(request: Request, admin: ConsoleAdmin, session: SessionDep) -> HTMLResponse:
    """Walk the whole hash chain (as ``minyi audit verify`` does) and show what it found.

    A POST although it writes nothing: walking every entry is work a link prefetcher or a
    crawler should not start."""
    result = audit.verify(session)
    return _page(request, session, verified=result, status_code=200 if result.ok else 409)


def entries_csv(request: Request, entries: list[audit.AuditEntry]) -> str:
    """The entries as CSV, times in the office's zone and in UTC, text made formula-inert."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for e in entries:
        row = [
            e.id,
            office_time(request, e.at),
            e.at.astimezone(UTC).isoformat(),
            e.actor,
            e.action,
            e.target,
            e.detail,
            e.hash,
        ]
        writer.writerow([neutralise(v) for v in row])
    # A byte-order mark so that Excel opens the Chinese text as UTF-8.
    return "\ufeff" + out.getvalue()


@router.get("/admin/audit.csv", response_class=Response)
def audit_csv(request: Request, admin: ConsoleAdmin, session: SessionDep) -> Response:
    """The filtered entries as a CSV file; the export itself is audited."""
    filters = read_filters(request)
    if filters.errors:
        return _page(request, session)
    entries = audit.list_entries(session, where=filters.where)
    body = entries_csv(request, entries)
    # Keys of their own: "actor" is record's own parameter.
    detail = {f"filter_{k}": v for k, v in filters.form.items() if v}
    audit.record(session, actor=admin.username, action="audit.export", rows=len(entries), **detail)
    stamp = utcnow().strftime("%Y%m%d-%H%M%S")
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="minyi-audit-{stamp}.csv"',
            "Cache-Control": "no-store",
        },
    )


def _chunks(handle: BinaryIO, size: int = 1 << 20) -> Iterator[bytes]:
    """The open backup file in pieces; closed at the end (or when the download is dropped)."""
    with handle:
        while piece := handle.read(size):
            yield piece


@router.post("/admin/audit/backup", response_class=Response)
def backup_download(request: Request, admin: ConsoleAdmin, session: SessionDep) -> Response:
    """A consistent backup of the whole database, streamed as a download (audited, no-store).

    The file is made in a private folder (0700, file 0600), opened, and removed from the disk
    before a byte is sent: the open handle keeps it readable for this response only, so a
    dropped download or a killed process leaves no copy behind."""
    url = request.app.state.settings.database_url
    path = private_backup(url)
    try:
        handle = path.open("rb")
    finally:
        discard(path)
    size = os.fstat(handle.fileno()).st_size
    stamp = utcnow().strftime("%Y%m%d-%H%M%S")
    name = backup_file_name(url, stamp)
    audit.record(session, actor=admin.username, action="backup.download", target=name, size=size)
    return StreamingResponse(
        _chunks(handle),
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Content-Length": str(size),
            "Cache-Control": "no-store",
        },
    )
