"""Questionnaires as XLSForm workbooks (sheets ``survey``, ``choices``, ``settings``).

Types, both ways:

| Minyi | XLSForm written | also read |
|---|---|---|
| rating (scale a..b) | ``range`` with ``parameters`` ``start=a end=b step=1`` | ``rating`` |
| nps | ``range`` with ``appearance`` ``nps`` (0..10) | ``nps`` |
| single_choice | ``select_one LIST`` | ``single_choice LIST`` |
| multi_choice | ``select_multiple LIST`` | ``multi_choice LIST`` |
| text | ``text`` | |
| number | ``decimal`` (``constraint`` ``. >= a and . <= b``) | ``integer``, ``number`` |

Labels come from ``label::zh`` (also ``label::zh-CN``, ``label::Chinese (zh)`` or plain
``label``) and ``label::en`` (also ``label::English (en)``). ``required`` is yes/true/1.
``relevant`` holds the condition (``${q} = 'a'``, ``${q} >= 3``, ``selected(${q}, 'a')``,
alternatives joined by ``or``); the extra column ``dimension`` names what a rating measures.
Every row that cannot be read is reported with its sheet and row number; nothing is dropped.

Limits (a questionnaire is small; these stop a hostile or mistaken upload early): the file at
most ``MAX_WORKBOOK_BYTES`` and ``MAX_UNPACKED_BYTES`` once unzipped (413), each sheet at most
``MAX_ROWS`` rows (422). Written cells go through the one formula rule
(``service.spreadsheet.neutralise``) and are read back through its inverse.
"""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

from openpyxl import Workbook, load_workbook
from pydantic import ValidationError

from service.errors import AppError, Invalid, error_item
from service.spreadsheet import neutralise, restore
from surveys.forms.models import Question, QuestionType, Survey
from surveys.forms.schemas import SurveyCreate

SURVEY_COLUMNS = [
    "type",
    "name",
    "label::zh",
    "label::en",
    "required",
    "relevant",
    "appearance",
    "parameters",
    "constraint",
    "dimension",
]
CHOICE_COLUMNS = ["list_name", "name", "label::zh", "label::en"]
_ZH = ("label::zh", "label::zh-cn", "label::chinese (zh)", "label::chinese", "label")
_EN = ("label::en", "label::english (en)", "label::english")
_TRUE = {"yes", "true", "1", "y", "true()"}
_FALSE = {"", "no", "false", "0", "n", "false()"}
_NUM_OPS = {"=": "eq", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge"}
_OPS_NUM = {v: k for k, v in _NUM_OPS.items()}
_COMPARE = re.compile(r"^\$\{([A-Za-z][A-Za-z0-9_]*)\}\s*(!=|<=|>=|=|<|>)\s*(.+)$")
_SELECTED = re.compile(r"^selected\(\s*\$\{([A-Za-z][A-Za-z0-9_]*)\}\s*,\s*'([^']*)'\s*\)$")
_PARAM = re.compile(r"(start|end|step)\s*=\s*(-?\d+(?:\.\d+)?)")
_BOUND = re.compile(r"\.\s*(>=|<=)\s*(-?\d+(?:\.\d+)?)")
MAX_WORKBOOK_BYTES = 5_000_000
MAX_UNPACKED_BYTES = 50_000_000
MAX_ROWS = 10_000


def _err(sheet: str, row: int, column: str, msg: str) -> dict[str, Any]:
    return {**error_item([sheet, row, column], msg), "sheet": sheet, "row": row}


# ---------------------------------------------------------------- export


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true()" if value else "false()"
    if isinstance(value, int | float):
        return f"{value:g}"
    return "'" + str(value).replace("'", "") + "'"


def _relevant(cond: dict[str, Any] | None, types: dict[str, str]) -> str:
    if not cond:
        return ""
    key, op, value = cond["key"], cond.get("op", "eq"), cond.get("value")
    multi = types.get(key) == QuestionType.multi_choice.value
    if op == "in":
        parts = [_relevant({"key": key, "op": "eq", "value": v}, types) for v in value or ()]
        return " or ".join(parts)
    if multi and op in ("eq", "ne"):
        expr = f"selected(${{{key}}}, {_literal(value)})"
        return expr if op == "eq" else f"not({expr})"
    return f"${{{key}}} {_OPS_NUM[op]} {_literal(value)}"


class _Sheet:
    """A worksheet whose appended rows pass through the formula rule (labels are user text)."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws

    def append(self, row: list[Any]) -> None:
        self.ws.append([neutralise(v) for v in row])


def export_xlsform(survey: Survey, questions: list[Question]) -> bytes:
    """The questionnaire as an XLSForm workbook (bytes of an .xlsx file)."""
    wb = Workbook()
    first = wb.active
    assert first is not None
    first.title = "survey"
    ws = _Sheet(first)
    ws.append(SURVEY_COLUMNS)
    choices = _Sheet(wb.create_sheet("choices"))
    choices.append(CHOICE_COLUMNS)
    types = {q.key: str(getattr(q.type, "value", q.type)) for q in questions}
    for q in questions:
        t = QuestionType(q.type)
        appearance = parameters = constraint = ""
        if t is QuestionType.rating:
            xtype = "range"
            parameters = f"start={q.scale_min} end={q.scale_max} step=1"
        elif t is QuestionType.nps:
            xtype, appearance, parameters = "range", "nps", "start=0 end=10 step=1"
        elif t in (QuestionType.single_choice, QuestionType.multi_choice):
            verb = "select_one" if t is QuestionType.single_choice else "select_multiple"
            xtype = f"{verb} {q.key}"
            for o in q.options or []:
                choices.append([q.key, o["value"], o.get("label", ""), o.get("label_en", "")])
        elif t is QuestionType.number:
            xtype = "decimal"
            bounds = []
            if q.scale_min is not None:
                bounds.append(f". >= {q.scale_min}")
            if q.scale_max is not None:
                bounds.append(f". <= {q.scale_max}")
            constraint = " and ".join(bounds)
        else:
            xtype = "text"
        ws.append(
            [
                xtype,
                q.key,
                q.label,
                q.label_en,
                "yes" if q.required else "",
                _relevant(q.show_if, types),
                appearance,
                parameters,
                constraint,
                q.dimension or "",
            ]
        )
    settings = _Sheet(wb.create_sheet("settings"))
    settings.append(
        ["form_title", "form_title::en", "form_id", "version", "default_language", "description"]
    )
    settings.append(
        [
            survey.title,
            survey.title_en,
            f"minyi_survey_{survey.id}",
            str(survey.version),
            "zh",
            survey.description,
        ]
    )
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# ---------------------------------------------------------------- import


def _rows(ws: Any, sheet: str) -> tuple[dict[str, int], list[tuple[int, list[Any]]]]:
    """Header (lower-cased name -> column index) and the non-empty rows with their numbers.

    Stops reading past ``MAX_ROWS`` non-empty rows (422), so a long sheet costs no more than the
    limit. Empty rows (formatting) do not count; the unpacked-size limit bounds them.
    """
    it = ws.iter_rows(values_only=True)
    try:
        header = next(it)
    except StopIteration:
        return {}, []
    cols = {
        str(h).strip().lower(): i for i, h in enumerate(header) if h is not None and str(h).strip()
    }
    rows = []
    for n, row in enumerate(it, start=2):
        values = list(row)
        if any(v is not None and str(v).strip() for v in values):
            rows.append((n, values))
            if len(rows) > MAX_ROWS:
                raise Invalid([_err(sheet, n, "sheet", f"more than {MAX_ROWS} rows (the limit)")])
    return cols, rows


def _cell(cols: dict[str, int], row: list[Any], *names: str) -> str:
    for name in names:
        i = cols.get(name)
        if i is not None and i < len(row) and row[i] is not None:
            value = row[i]
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            text = str(restore(value)).strip()
            if text:
                return text
    return ""


def _value(text: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"cannot read the value {text!r}") from None
    return int(number) if number.is_integer() else number


def parse_relevant(expr: str) -> dict[str, Any]:
    """A ``relevant`` expression as a show_if condition; ValueError when it cannot be read."""
    parts = [p.strip() for p in re.split(r"\s+or\s+", expr.strip()) if p.strip()]
    conds = []
    for part in parts:
        while part.startswith("(") and part.endswith(")"):
            part = part[1:-1].strip()
        m = _SELECTED.match(part)
        if m:
            conds.append({"key": m.group(1), "op": "eq", "value": m.group(2)})
            continue
        m = _COMPARE.match(part)
        if not m:
            raise ValueError(f"cannot read the condition {part!r}")
        conds.append({"key": m.group(1), "op": _NUM_OPS[m.group(2)], "value": _value(m.group(3))})
    if not conds:
        raise ValueError("empty condition")
    if len(conds) == 1:
        return conds[0]
    keys = {c["key"] for c in conds}
    if len(keys) != 1 or any(c["op"] != "eq" for c in conds):
        raise ValueError("only alternatives of one question ('or' of '=') can be read")
    return {"key": conds[0]["key"], "op": "in", "value": [c["value"] for c in conds]}


def _type(xtype: str, appearance: str) -> tuple[QuestionType, str | None]:
    words = xtype.split()
    head = words[0].lower() if words else ""
    list_name = words[1] if len(words) > 1 else None
    if head in ("select_one", "single_choice", "select_multiple", "multi_choice"):
        if not list_name:
            raise ValueError(f"'{head}' needs a choice list name, e.g. '{head} yesno'")
        single = head in ("select_one", "single_choice")
        return (QuestionType.single_choice if single else QuestionType.multi_choice), list_name
    if len(words) > 1:
        raise ValueError(f"unexpected words after the type '{head}'")
    if head == "range":
        return (QuestionType.nps if appearance.lower() == "nps" else QuestionType.rating), None
    mapping = {
        "rating": QuestionType.rating,
        "nps": QuestionType.nps,
        "text": QuestionType.text,
        "integer": QuestionType.number,
        "decimal": QuestionType.number,
        "number": QuestionType.number,
    }
    if head not in mapping:
        raise ValueError(
            f"unsupported type '{xtype}' (use range/rating, nps, select_one, select_multiple, "
            "text, integer or decimal)"
        )
    return mapping[head], None


def import_xlsform(data: bytes) -> SurveyCreate:
    """Read an XLSForm workbook; 422 listing every bad row with its sheet and row number.

    CPU-bound for large files: call it off the event loop (the route uses the thread pool).
    """
    check_size(data)
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:
        raise Invalid.field(("file",), "not an .xlsx workbook") from None
    names = {n.lower(): n for n in wb.sheetnames}
    errors: list[dict[str, Any]] = []
    if "survey" not in names:
        raise Invalid([_err("survey", 0, "sheet", "the workbook has no 'survey' sheet")])
    # choices
    lists: dict[str, list[dict[str, str]]] = {}
    if "choices" in names:
        cols, rows = _rows(wb[names["choices"]], "choices")
        for col in ("list_name", "name"):
            if col not in cols and rows:
                errors.append(_err("choices", 1, col, f"missing column '{col}'"))
        for n, row in rows:
            list_name = _cell(cols, row, "list_name", "list name")
            value = _cell(cols, row, "name")
            label = _cell(cols, row, *_ZH) or _cell(cols, row, *_EN)
            if not list_name:
                errors.append(_err("choices", n, "list_name", "missing list_name"))
                continue
            if not value:
                errors.append(_err("choices", n, "name", "missing name"))
                continue
            if not re.match(r"^[A-Za-z0-9_.:-]+$", value):
                errors.append(
                    _err("choices", n, "name", f"'{value}' may only use letters, digits and _.:-")
                )
                continue
            if not label:
                errors.append(_err("choices", n, "label::zh", "missing label"))
                continue
            if any(o["value"] == value for o in lists.get(list_name, [])):
                errors.append(
                    _err("choices", n, "name", f"'{value}' appears twice in list '{list_name}'")
                )
                continue
            lists.setdefault(list_name, []).append(
                {"value": value, "label": label, "label_en": _cell(cols, row, *_EN)}
            )
    # survey
    cols, rows = _rows(wb[names["survey"]], "survey")
    for col in ("type", "name"):
        if col not in cols:
            errors.append(_err("survey", 1, col, f"missing column '{col}'"))
    questions: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for n, row in rows:
        xtype = _cell(cols, row, "type")
        key = _cell(cols, row, "name")
        label = _cell(cols, row, *_ZH) or _cell(cols, row, *_EN)
        appearance = _cell(cols, row, "appearance")
        try:
            qtype, choice_list = _type(xtype, appearance)
        except ValueError as exc:
            errors.append(_err("survey", n, "type", str(exc) if xtype else "missing type"))
            continue
        q: dict[str, Any] = {"key": key, "type": qtype.value, "label": label}
        q["label_en"] = _cell(cols, row, *_EN)
        required = _cell(cols, row, "required").lower()
        if required not in _TRUE | _FALSE:
            errors.append(_err("survey", n, "required", f"'{required}' is not yes or no"))
            continue
        q["required"] = required in _TRUE
        dimension = _cell(cols, row, "dimension")
        if dimension:
            q["dimension"] = dimension
        if qtype in (QuestionType.rating, QuestionType.nps):
            params = dict(_PARAM.findall(_cell(cols, row, "parameters")))
            if qtype is QuestionType.rating and params:
                try:
                    q["scale_min"], q["scale_max"] = (
                        int(float(params["start"])),
                        int(float(params["end"])),
                    )
                except KeyError:
                    errors.append(_err("survey", n, "parameters", "a range needs start= and end="))
                    continue
        if qtype is QuestionType.number:
            for op, bound in _BOUND.findall(_cell(cols, row, "constraint")):
                q["scale_min" if op == ">=" else "scale_max"] = int(float(bound))
        if choice_list is not None:
            if choice_list not in lists:
                errors.append(
                    _err(
                        "survey", n, "type", f"no choice list '{choice_list}' in the choices sheet"
                    )
                )
                continue
            q["options"] = lists[choice_list]
        relevant = _cell(cols, row, "relevant")
        if relevant:
            try:
                q["show_if"] = parse_relevant(relevant)
            except ValueError as exc:
                errors.append(_err("survey", n, "relevant", str(exc)))
                continue
        if key in seen:
            errors.append(_err("survey", n, "name", f"'{key}' is already used on row {seen[key]}"))
            continue
        row_errors = _check_question(q, n, questions)
        if row_errors:
            errors.extend(row_errors)
            continue
        seen[key] = n
        questions.append(q)
    # settings
    title = title_en = description = ""
    if "settings" in names:
        cols, rows = _rows(wb[names["settings"]], "settings")
        if rows:
            _n, row = rows[0]
            title = _cell(cols, row, "form_title", "title")
            title_en = _cell(cols, row, "form_title::en", "title_en")
            description = _cell(cols, row, "description")
    if not title:
        errors.append(_err("settings", 2, "form_title", "missing form_title"))
    if not questions and not errors:
        errors.append(_err("survey", 2, "type", "the survey sheet has no questions"))
    if errors:
        raise Invalid(errors)
    try:
        return SurveyCreate(
            title=title, title_en=title_en, description=description, questions=questions
        )
    except ValidationError as exc:
        raise Invalid([_err("settings", 2, "form_title", e["msg"]) for e in exc.errors()]) from None


def check_size(data: bytes) -> None:
    """413 for a workbook over the size limits, packed or unpacked (a zip bomb), before parsing."""
    if len(data) > MAX_WORKBOOK_BYTES:
        raise AppError(
            f"the workbook is larger than {MAX_WORKBOOK_BYTES} bytes (the limit)", status_code=413
        )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            # Reading a member never yields more than its declared size (zipfile stops there).
            unpacked = sum(i.file_size for i in z.infolist())
    except zipfile.BadZipFile:
        raise Invalid.field(("file",), "not an .xlsx workbook") from None
    if unpacked > MAX_UNPACKED_BYTES:
        raise AppError(
            f"the workbook unpacks to more than {MAX_UNPACKED_BYTES} bytes (the limit)",
            status_code=413,
        )


def _check_question(
    q: dict[str, Any], n: int, earlier: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Validate one question as the API would, reporting problems against its row."""
    from surveys.forms.schemas import QuestionIn, check_show_if

    try:
        parsed = QuestionIn.model_validate(q)
    except ValidationError as exc:
        out = []
        for e in exc.errors():
            field = str(e["loc"][0]) if e["loc"] else "type"
            column = {
                "key": "name",
                "label": "label::zh",
                "label_en": "label::en",
                "show_if": "relevant",
                "scale_min": "parameters",
                "scale_max": "parameters",
            }.get(field, field)
            out.append(_err("survey", n, column, str(e["msg"]).removeprefix("Value error, ")))
        return out
    if parsed.show_if is not None:
        try:
            check_show_if(parsed.show_if, {e["key"]: QuestionIn.model_validate(e) for e in earlier})
        except ValueError as exc:
            return [_err("survey", n, "relevant", str(exc))]
    return []
