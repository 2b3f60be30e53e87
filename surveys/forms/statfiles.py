"""Response exports for statistical software: SPSS ``.sav`` and Stata ``.dta`` (pyreadstat).

The same rows as the CSV export (``exports.iter_rows``), with what SPSS and Stata keep beside
the data: variable labels (the question text in Chinese; both languages are in the codebook),
value labels for scale points and choices, and variable names valid in each format
(``varnames``). Ratings, NPS and numbers are numeric, an unanswered one is system-missing;
single choices are numeric codes (1-based option position) with the option text as value
label; multi choices stay text (values separated by spaces, as in the CSV), and so do the unit,
profile fields, the submission hour (ISO text, as the CSV has it), flags and comment. Neither
format has a missing string, so an empty text cell is "". Stata files are format 118 (Stata
14+, UTF-8); text longer than 2,045 bytes becomes a strL. SPSS files are Unicode (UTF-8).

pyreadstat needs the whole table in memory as a DataFrame, so an export above ``MAX_ROWS``
is refused; the file is written to a temporary file (removed at once, kept open) and streamed
back from it in chunks.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from typing import IO, Any

import numpy as np
import pandas as pd
import pyreadstat
from sqlalchemy.engine import Engine

from service.errors import Invalid
from surveys.forms.exports import COMMENT, FIXED, columns, count_rows, iter_rows
from surveys.forms.models import Campaign, Question, QuestionType
from surveys.forms.varnames import choice_codes, variable_names

FORMATS = ("sav", "dta")
# pyreadstat needs the whole frame: for 100,000 responses to the test questionnaire the process
# grew by 58 MB with short comments and by 241 MB with comments of 1,000 characters on average
# (docs/surveys.md). Larger campaigns export as CSV, which streams.
MAX_ROWS = 100_000
STATA_VERSION = 14  # pyreadstat's "Stata 14" writes file format 118: UTF-8, strL
READ_CHUNK = 1 << 16
# Label limits of the formats (pyreadstat refuses longer ones for Stata and cuts SPSS's at a
# byte count; we cut first, at a character boundary): Stata 80 characters; SPSS 256 bytes per
# variable label, 120 per value label, 64 for the file label.
_CHARS = {"dta": {"variable": 80, "value": 32000, "file": 80}}
_BYTES = {"sav": {"variable": 256, "value": 120, "file": 64}}
# The words the survey form shows beside the scale points (frontend/locales/survey.json).
SCALE_WORDS = {1: "很不满意", 2: "不满意", 3: "一般", 4: "满意", 5: "非常满意"}
RATING_ENDS = ("最低", "最高")
NPS_ENDS = ("完全不可能", "非常可能")
FLAGGED_WORDS: dict[int | float, str] = {0: "否", 1: "是"}
MEASURE = {
    QuestionType.rating: "ordinal",
    QuestionType.nps: "ordinal",
    QuestionType.single_choice: "nominal",
    QuestionType.number: "scale",
}


def fit(text: str, fmt: str, kind: str) -> str:
    """A label cut to what ``fmt`` allows for ``kind``, never inside a character."""
    if fmt in _CHARS:
        return text[: _CHARS[fmt][kind]]
    limit = _BYTES[fmt][kind]
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text
    return raw[:limit].decode("utf-8", errors="ignore")


def value_labels(q: Question) -> dict[int, str]:
    """Code -> label of a question's scale points or choices (none for other types)."""
    t = QuestionType(q.type)
    if t is QuestionType.single_choice:
        codes = choice_codes(q.options)
        return {codes[str(o["value"])]: o.get("label") or str(o["value"]) for o in q.options or []}
    if t not in (QuestionType.rating, QuestionType.nps) or q.scale_min is None:
        return {}
    lo, hi = q.scale_min, q.scale_max or q.scale_min
    if t is QuestionType.rating and (lo, hi) == (1, 5):
        return dict(SCALE_WORDS)
    ends = NPS_ENDS if t is QuestionType.nps else RATING_ENDS
    return {lo: f"{lo} {ends[0]}", hi: f"{hi} {ends[1]}"}


def frame(rows: Iterator[list[Any]], questions: list[Question]) -> pd.DataFrame:
    """The rows as a DataFrame of typed columns named as in the CSV export.

    Ratings, NPS and numbers are floats (NaN when missing), single choices their codes (NaN
    when missing), ``flagged`` 0/1, everything else text ("" when missing).
    """
    header = columns(questions)
    kind = {c: "text" for c in header}
    kind["flagged"] = "flag"
    codes: dict[str, dict[str, int]] = {}
    for q in questions:
        t = QuestionType(q.type)
        if t in (QuestionType.rating, QuestionType.nps, QuestionType.number):
            kind[q.key] = "number"
        elif t is QuestionType.single_choice:
            kind[q.key] = "code"
            codes[q.key] = choice_codes(q.options)
    cells: list[list[Any]] = [[] for _ in header]
    for row in rows:
        for i, value in enumerate(row):
            cells[i].append(value)
    data: dict[str, Any] = {}
    for c, values in zip(header, cells, strict=True):
        k = kind[c]
        if k == "number":
            data[c] = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        elif k == "code":
            got = codes[c]
            data[c] = np.array([got.get(str(v), np.nan) for v in values], dtype=np.float64)
        elif k == "flag":
            data[c] = np.array([1 if v else 0 for v in values], dtype=np.int8)
        else:
            data[c] = pd.Series(["" if v is None else str(v) for v in values], dtype=object)
        values.clear()  # the lists go as each column is built
    return pd.DataFrame(data, columns=header)


def _labels(questions: list[Question]) -> dict[str, str]:
    out = {c: zh for c, zh, _ in FIXED}
    out.update({q.key: q.label for q in questions})
    out[COMMENT[0]] = COMMENT[1]
    return out


def write(path: str, df: pd.DataFrame, questions: list[Question], *, fmt: str, title: str) -> None:
    """Write ``df`` (export column names) to ``path`` as ``fmt`` with names and labels."""
    header = list(df.columns)
    names = dict(zip(header, variable_names(header, fmt), strict=True))
    labels = _labels(questions)
    out = df.rename(columns=names)
    column_labels: list[str | None] = [fit(labels.get(c, c), fmt, "variable") for c in header]
    value: dict[str, dict[int | float, str]] = {names["flagged"]: dict(FLAGGED_WORDS)}
    for q in questions:
        got = value_labels(q)
        if got:
            value[names[q.key]] = {k: fit(v, fmt, "value") for k, v in got.items()}
    if fmt == "dta":
        pyreadstat.write_dta(
            out,
            path,
            file_label=fit(title, fmt, "file"),
            column_labels=column_labels,
            version=STATA_VERSION,
            variable_value_labels=value,
        )
        return
    measure = {
        names[q.key]: MEASURE[QuestionType(q.type)]
        for q in questions
        if QuestionType(q.type) in MEASURE
    }
    pyreadstat.write_sav(
        out,
        path,
        file_label=fit(title, fmt, "file"),
        column_labels=column_labels,
        row_compress=True,
        variable_value_labels=value,
        variable_measure=measure,
    )


def _stream(fh: IO[bytes]) -> Iterator[bytes]:
    try:
        while chunk := fh.read(READ_CHUNK):
            yield chunk
    finally:
        fh.close()


def build(
    engine: Engine,
    campaign: Campaign,
    questions: list[Question],
    *,
    fmt: str,
    flagged: str = "include",
    secret: str,
) -> Iterator[bytes]:
    """The export as a ``.sav`` or ``.dta`` file, written now and streamed from disk.

    The file is written before the response starts, so a failure is an error response rather
    than a cut download; refused (422) above ``MAX_ROWS`` responses.
    """
    cid = campaign.id or 0
    n = count_rows(engine, cid, flagged)
    if n > MAX_ROWS:
        raise Invalid.field(
            ("query", "format"),
            f"{n} responses are more than the {MAX_ROWS} a {fmt} export holds; use csv",
        )
    df = frame(iter_rows(engine, cid, questions, flagged, secret=secret), questions)
    fd, path = tempfile.mkstemp(prefix="minyi-export-", suffix=f".{fmt}")
    os.close(fd)
    try:
        write(path, df, questions, fmt=fmt, title=campaign.title)
        del df
        fh = open(path, "rb")  # noqa: SIM115 - closed by the stream
    finally:
        os.unlink(path)  # the open handle keeps the data until the stream closes it
    return _stream(fh)
