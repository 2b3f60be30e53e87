"""Exports of a campaign's responses (CSV, XLSX, JSON) and their codebook.

One row per response: the fixed columns, then one column per question key in questionnaire
order, then the comment. Rows are read a few thousand at a time, on a connection of their own,
so a million-row export streams without holding it all in memory. The internal (sequential)
response id never leaves the database: a response is named by ``public_id``, a keyed hash of
it, and the rows of each chunk are written in the order of that hash, so neither the ids nor
the row order tell in which order the responses arrived (nothing to line up with a log). CSV is UTF-8
with a byte-order mark (Excel then shows Chinese); in CSV and XLSX every text cell that starts
with ``= + - @`` (or a tab or carriage return) gets a leading apostrophe, so no spreadsheet
reads it as a formula.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from openpyxl import Workbook
from sqlalchemy import and_, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import aliased

from service.spreadsheet import neutralise
from surveys.forms.models import ANSWER_TABLE, RESPONSE_TABLE, Campaign, Question, QuestionType
from surveys.forms.varnames import annotate, choice_codes
from surveys.units.models import Unit

FORMATS = ("csv", "xlsx", "json", "sav", "dta")
FIXED = [
    (
        "response_id",
        "答卷编号（随机编号，与提交顺序无关）",
        "Response id (random, not the order of arrival)",
    ),
    ("unit_code", "被评单位代码", "Rated unit code"),
    ("unit_name", "被评单位", "Rated unit"),
    ("area_code", "居住地代码", "Respondent's area code"),
    ("age_band", "年龄段", "Age band"),
    ("sex", "性别", "Sex"),
    ("submitted_hour", "提交时段（UTC，精确到小时）", "Hour submitted (UTC)"),
    ("source", "来源（web 网页 / import 导入）", "Source (web or import)"),
    ("flagged", "疑似刷票（默认不计入指标）", "Flagged (left out of indicators by default)"),
    ("flags", "标记", "Flags (burst, too_fast, straight_line, duplicate_comment)"),
]
COMMENT = ("comment", "意见和建议", "Comment")
CHUNK = 5000
PUBLIC_ID_LENGTH = 20  # hex digits: 80 bits, no collision within any campaign


def public_id(secret: str, response_id: int) -> str:
    """The id a response is known by outside the database: an HMAC of its id, not sequential."""
    mac = hmac.new(secret.encode(), b"response:%d" % response_id, hashlib.sha256)
    return mac.hexdigest()[:PUBLIC_ID_LENGTH]


def columns(questions: list[Question]) -> list[str]:
    """The export's column names, in order."""
    return [c for c, _, _ in FIXED] + [q.key for q in questions] + [COMMENT[0]]


def codebook(questions: list[Question]) -> list[dict[str, Any]]:
    """What each column means: labels in both languages, type, allowed values, dimension."""
    rows: list[dict[str, Any]] = [
        {"column": c, "label": zh, "label_en": en, "type": "fixed", "values": "", "dimension": ""}
        for c, zh, en in FIXED
    ]
    for q in questions:
        t = QuestionType(q.type)
        codes = ""
        if t in (QuestionType.rating, QuestionType.nps):
            values = f"{q.scale_min}..{q.scale_max}"
        elif q.options:
            values = "; ".join(f"{o['value']}={o.get('label', '')}" for o in q.options)
            if t is QuestionType.multi_choice:
                values += " (several, separated by spaces)"
            else:  # the numbers a single choice is stored as in SPSS and Stata
                codes = "; ".join(f"{c}={v}" for v, c in choice_codes(q.options).items())
        elif t is QuestionType.number:
            lo = "" if q.scale_min is None else q.scale_min
            hi = "" if q.scale_max is None else q.scale_max
            values = f"{lo}..{hi}" if (lo != "" or hi != "") else "number"
        else:
            values = "text"
        rows.append(
            {
                "column": q.key,
                "label": q.label,
                "label_en": q.label_en,
                "type": t.value,
                "values": values,
                "dimension": q.dimension or "",
                "required": q.required,
                "show_if": json.dumps(q.show_if, ensure_ascii=False) if q.show_if else "",
                "codes": codes,
            }
        )
    c, zh, en = COMMENT
    rows.append(
        {
            "column": c,
            "label": zh,
            "label_en": en,
            "type": "text",
            "values": "text",
            "dimension": "",
        }
    )
    return annotate(rows)


def count_rows(engine: Engine, campaign_id: int, flagged: str = "include") -> int:
    """How many responses the export will hold."""
    from sqlalchemy import func

    q = select(func.count()).select_from(RESPONSE_TABLE).where(_filter(campaign_id, flagged))
    with engine.connect() as conn:
        return int(conn.execute(q).scalar_one())


def _filter(campaign_id: int, flagged: str) -> Any:
    r = RESPONSE_TABLE.c
    cond = r.campaign_id == campaign_id
    if flagged == "exclude":
        cond = and_(cond, r.flagged.is_(False))
    elif flagged == "only":
        cond = and_(cond, r.flagged.is_(True))
    return cond


def _number(value: float | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else value


def iter_rows(
    engine: Engine,
    campaign_id: int,
    questions: list[Question],
    flagged: str = "include",
    *,
    secret: str,
) -> Iterator[list[Any]]:
    """Every response as a list of cell values in ``columns`` order, read in chunks.

    What is needed of the questions is read now: the rows are produced later (while the
    response streams), after the request's session has closed.
    """
    keys = [q.key for q in questions]
    numeric = {
        q.key
        for q in questions
        if QuestionType(q.type) in (QuestionType.rating, QuestionType.nps, QuestionType.number)
    }
    return _rows(engine, campaign_id, keys, numeric, flagged, secret)


def _rows(
    engine: Engine, campaign_id: int, keys: list[str], numeric: set[str], flagged: str, secret: str
) -> Iterator[list[Any]]:
    r = RESPONSE_TABLE.c
    unit = Unit.__table__  # type: ignore[attr-defined]
    area = aliased(Unit.__table__)  # type: ignore[attr-defined]
    a = ANSWER_TABLE.c
    last = 0
    while True:
        with engine.connect() as conn:
            batch = conn.execute(
                select(
                    r.id,
                    unit.c.code,
                    unit.c.name,
                    area.c.code,
                    r.age_band,
                    r.sex,
                    r.submitted_hour,
                    r.source,
                    r.flagged,
                    r.flags,
                    r.comment,
                )
                .join(unit, unit.c.id == r.unit_id)
                .outerjoin(area, area.c.id == r.area_unit_id)
                .where(_filter(campaign_id, flagged))
                .where(r.id > last)
                .order_by(r.id)
                .limit(CHUNK)
            ).all()
            if not batch:
                return
            lo, hi = batch[0][0], batch[-1][0]
            answers: dict[int, dict[str, Any]] = {}
            for rid, key, num, txt in conn.execute(
                select(a.response_id, a.question_key, a.value_num, a.value_text)
                .join(RESPONSE_TABLE, r.id == a.response_id)
                .where(r.campaign_id == campaign_id)
                .where(a.response_id >= lo)
                .where(a.response_id <= hi)
            ):
                answers.setdefault(rid, {})[key] = _number(num) if key in numeric else txt
        out = []
        for row in batch:
            rid, ucode, uname, acode, age, sex, hour, source, flag, flags, comment = row
            got = answers.get(rid, {})
            out.append(
                [
                    public_id(secret, rid),
                    ucode,
                    uname,
                    acode,
                    age,
                    sex,
                    hour.isoformat() if isinstance(hour, datetime) else hour,
                    source,
                    bool(flag),
                    flags,
                    *[got.get(k) for k in keys],
                    comment,
                ]
            )
        out.sort(key=lambda cells: cells[0])
        yield from out
        last = batch[-1][0]


def csv_stream(header: list[str], rows: Iterator[list[Any]]) -> Iterator[bytes]:
    """UTF-8 CSV with a byte-order mark, formula-like cells neutralised."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    buf.write("\ufeff")
    writer.writerow(header)
    for n, row in enumerate(rows, start=1):
        writer.writerow(["" if v is None else neutralise(v) for v in row])
        if n % 1000 == 0:
            yield buf.getvalue().encode("utf-8")
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue().encode("utf-8")


def codebook_csv(book: list[dict[str, Any]]) -> bytes:
    """The codebook as a UTF-8 CSV with a byte-order mark."""
    fields = ["column", "label", "label_en", "type", "values", "dimension", "required", "show_if"]
    fields += ["codes", "name_sav", "name_dta"]
    buf = io.StringIO()
    buf.write("\ufeff")
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    for row in book:
        writer.writerow({k: neutralise(v) for k, v in row.items()})
    return buf.getvalue().encode("utf-8")


def xlsx_bytes(header: list[str], rows: Iterator[list[Any]], book: list[dict[str, Any]]) -> bytes:
    """A workbook with a ``responses`` and a ``codebook`` sheet (streamed while written)."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("responses")
    ws.append(header)
    for row in rows:
        ws.append([neutralise(v) for v in row])
    cb = wb.create_sheet("codebook")
    fields = ["column", "label", "label_en", "type", "values", "dimension", "required", "show_if"]
    fields += ["codes", "name_sav", "name_dta"]
    cb.append(fields)
    for entry in book:
        cb.append([neutralise(entry.get(f, "")) for f in fields])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def json_stream(
    meta: dict[str, Any], book: list[dict[str, Any]], header: list[str], rows: Iterator[list[Any]]
) -> Iterator[bytes]:
    """``{"campaign": ..., "codebook": [...], "responses": [{column: value}, ...]}``, streamed."""
    head = {"campaign": meta, "codebook": book}
    text = json.dumps(head, ensure_ascii=False, default=str)
    yield (text[:-1] + ', "responses": [').encode("utf-8")
    first = True
    for row in rows:
        item = json.dumps(dict(zip(header, row, strict=True)), ensure_ascii=False, default=str)
        yield (item if first else "," + item).encode("utf-8")
        first = False
    yield b"]}"


def campaign_meta(campaign: Campaign) -> dict[str, Any]:
    return {
        "id": campaign.id,
        "title": campaign.title,
        "title_en": campaign.title_en,
        "survey_id": campaign.survey_id,
        "opens_at": campaign.opens_at.isoformat(),
        "closes_at": campaign.closes_at.isoformat(),
        "access": str(getattr(campaign.access, "value", campaign.access)),
    }


XLSX_MAX_ROWS = 1_048_575  # Excel's limit, less the header
MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
    "sav": "application/x-spss-sav",
    "dta": "application/x-stata-dta",
}


def build(
    engine: Engine,
    campaign: Campaign,
    questions: list[Question],
    *,
    fmt: str,
    flagged: str = "include",
    secret: str,
) -> tuple[Iterator[bytes] | bytes, str, str]:
    """(body, media type, file name) of an export; CSV and JSON stream, XLSX is built whole."""
    from service.errors import Invalid

    cid = campaign.id or 0
    header = columns(questions)
    book = codebook(questions)
    rows = iter_rows(engine, cid, questions, flagged, secret=secret)
    name = f"campaign-{cid}-responses.{fmt}"
    if fmt in ("sav", "dta"):
        from surveys.forms import statfiles  # it builds on this module

        body = statfiles.build(engine, campaign, questions, fmt=fmt, flagged=flagged, secret=secret)
        return body, MEDIA[fmt], name
    if fmt == "csv":
        return csv_stream(header, rows), MEDIA["csv"], name
    if fmt == "xlsx":
        if count_rows(engine, cid, flagged) > XLSX_MAX_ROWS:
            raise Invalid.field(("query", "format"), "too many rows for a spreadsheet; use csv")
        return xlsx_bytes(header, rows, book), MEDIA["xlsx"], name
    return json_stream(campaign_meta(campaign), book, header, rows), MEDIA["json"], name


def json_dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, default=str).encode("utf-8")
