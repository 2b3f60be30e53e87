"""SQL GROUP BY -> typed rows (numpy columns): counts per scale point.

Indicators by unit and dimension come from the statistics table ``stat_unit``. Every other
grouping (area, profile, period, weighting) is counted from the in-process columnar copy
(``analytics.indicators.cube``); ``source="raw"`` counts the same from the raw responses in SQL (used
to check the copy, and by the benchmark).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import (
    Float,
    Integer,
    String,
    Table,
    cast,
    column,
    false,
    func,
    label,
    literal,
    literal_column,
    select,
    table,
    text,
)
from sqlalchemy.sql.elements import ColumnElement, SQLColumnExpression
from sqlmodel import Session, col

from surveys.forms.models import Answer, Campaign, Question, StatUnit, SurveyResponse
from surveys.forms.stats import RESPONSE_KEY
from surveys.units.models import Unit

# Fields a query can group by (dimension is resolved from the question, not in SQL).
SQL_FIELDS = ("unit", "area", "age_band", "sex", "period")
CELL_FIELDS = ("area", "age_band", "sex")
PERIODS = ("day", "week", "month")

_STAT_UNIT: Table = StatUnit.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class QuestionInfo:
    """A rated question of a campaign's survey."""

    key: str
    type: str  # rating | nps
    dimension: str
    scale_min: float
    scale_max: float


@dataclass
class Filters:
    """Restrict a query to one unit, area, age band or sex (ids already resolved)."""

    unit_id: int | None = None
    area_id: int | None = None
    age_band: str | None = None
    sex: str | None = None

    @property
    def needs_cell(self) -> bool:
        return self.area_id is not None or self.age_band is not None or self.sex is not None


@dataclass
class Counts:
    """Counts per scale point: one numpy column per grouping field, plus question, value, n."""

    keys: dict[str, np.ndarray]
    question: np.ndarray
    value: np.ndarray
    n: np.ndarray
    source: str
    # Sums of n * weight and n * weight**2 (equal to n when unweighted).
    wn: np.ndarray = field(default_factory=lambda: np.zeros(0))
    w2n: np.ndarray = field(default_factory=lambda: np.zeros(0))
    # Sums of n * weight**4: the degrees of freedom of a weighted SE (``table.groups_from_counts``).
    w4n: np.ndarray = field(default_factory=lambda: np.zeros(0))
    # With weights: their summary over the respondents as used (after averaging in blocks).
    weights: dict[str, Any] | None = None

    def __len__(self) -> int:
        return int(self.n.shape[0])


def campaign_questions(session: Session, *, campaign: Campaign) -> dict[str, QuestionInfo]:
    """The rating and NPS questions of the campaign's survey, by key."""
    rows = session.execute(
        select(Question).where(
            col(Question.survey_id) == campaign.survey_id,
            col(Question.type).in_(("rating", "nps")),
        )
    ).scalars()
    out: dict[str, QuestionInfo] = {}
    for q in rows:
        lo = q.scale_min if q.scale_min is not None else (0 if q.type == "nps" else 1)
        hi = q.scale_max if q.scale_max is not None else (10 if q.type == "nps" else 5)
        dim = q.dimension or ("nps" if q.type == "nps" else q.key)
        out[q.key] = QuestionInfo(q.key, str(q.type), dim, float(lo), float(hi))
    return out


def unit_labels(session: Session, ids: Sequence[int]) -> dict[int, tuple[str, str, str]]:
    """(code, name, name_en) of units by id."""
    ids = [int(i) for i in set(ids) if i]
    if not ids:
        return {}
    rows = session.execute(
        select(col(Unit.id), col(Unit.code), col(Unit.name), col(Unit.name_en)).where(
            col(Unit.id).in_(ids)
        )
    ).all()
    return {int(r[0]): (r[1], r[2], r[3]) for r in rows}


def _period_expr(dialect: str, day: ColumnElement[Any], period: str) -> ColumnElement[Any]:
    """A text label of the period: 'YYYY-MM-DD' (day, or the Monday of the week) or 'YYYY-MM'."""
    if dialect == "postgresql":
        if period == "month":
            return func.to_char(day, "YYYY-MM")
        if period == "week":
            return func.to_char(func.date_trunc("week", day), "YYYY-MM-DD")
        return func.to_char(day, "YYYY-MM-DD")
    if period == "month":
        return func.substr(day, 1, 7)
    if period == "week":
        shift = (cast(func.strftime("%w", day), Integer) + 6) % 7
        return func.date(day, literal("-", String) + cast(shift, String) + literal(" days", String))
    return func.date(day)


def _raw_day(dialect: str) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return literal_column("CAST((survey_response.submitted_hour AT TIME ZONE 'UTC') AS DATE)")
    return func.date(SurveyResponse.submitted_hour)


def choose_source(fields: Sequence[str], filters: Filters, weighted: bool = False) -> str:
    """``stat_unit`` when the statistics table holds the grouping, else ``columns``."""
    cell = weighted or filters.needs_cell or any(f in CELL_FIELDS for f in fields)
    return "columns" if cell or "period" in fields else "stat_unit"


def fetch_counts(
    session: Session,
    *,
    campaign_id: int,
    fields: Sequence[str],
    period: str | None = None,
    include_flagged: bool = False,
    filters: Filters | None = None,
    source: str | None = None,
    weights: dict[tuple[int, str, str], float] | None = None,
) -> Counts:
    """Counts per (fields..., question, value) for a campaign, summed in SQL.

    With ``weights`` (per respondent cell: area id, age band, sex) the database also sums
    n * w and n * w**2, so weighted figures need no row per cell in Python.
    """
    filters = filters or Filters()
    fields = list(fields)
    src = source or choose_source(fields, filters, weighted=weights is not None)
    dialect = session.get_bind().dialect.name
    if src == "raw":
        return _fetch_raw(
            session, campaign_id, fields, period, include_flagged, filters, dialect, weights
        )
    if src != "stat_unit" or weights is not None:
        raise ValueError(f"fetch_counts answers from stat_unit or raw, not {src}")
    c = _STAT_UNIT.c
    cols: dict[str, ColumnElement[Any]] = {}
    if "unit" in fields:
        cols["unit"] = c.unit_id
    keys = [v.label(f"k_{k}") for k, v in cols.items()]
    stmt = select(*keys, c.question_key, c.value, func.sum(c.n)).where(c.campaign_id == campaign_id)
    if not include_flagged:
        stmt = stmt.where(c.flagged == false())
    if filters.unit_id is not None:
        stmt = stmt.where(c.unit_id == filters.unit_id)
    stmt = stmt.group_by(*cols.values(), c.question_key, c.value)
    rows = session.execute(stmt).all()
    return _to_counts(rows, list(cols), src)


def _weights_cte(
    weights: dict[tuple[int, str, str], float], dialect: str, session: Session | None = None
) -> Any:
    """The weights as a table w(area, age, sex, w) (a few hundred cells at most).

    PostgreSQL joins an inline VALUES list by hashing. SQLite would scan such a list once per
    statistics row, so there the weights go to an indexed temporary table of the connection.
    """
    cols = (column("area", Integer), column("age", String), column("sex", String))
    if dialect != "postgresql" and session is not None:
        session.execute(
            text(
                "CREATE TEMP TABLE IF NOT EXISTS analytics_weight (area INTEGER, age TEXT, "
                "sex TEXT, w REAL, PRIMARY KEY (area, age, sex))"
            )
        )
        session.execute(text("DELETE FROM temp.analytics_weight"))
        session.execute(
            text("INSERT INTO temp.analytics_weight VALUES (:a, :g, :x, :w)"),
            [{"a": a, "g": g, "x": x, "w": float(w)} for (a, g, x), w in sorted(weights.items())],
        )
        return table("analytics_weight", *cols, column("w", Float))

    def q(v: str) -> str:
        return "'" + v.replace("'", "''") + "'"

    real = "DOUBLE PRECISION" if dialect == "postgresql" else "REAL"
    values = (
        ", ".join(
            f"({int(a)}, {q(g)}, {q(x)}, CAST({float(w)!r} AS {real}))"
            for (a, g, x), w in sorted(weights.items())
        )
        or f"(-1, '', '', CAST(1.0 AS {real}))"
    )
    if dialect == "postgresql":
        sql = f"SELECT * FROM (VALUES {values}) AS wv(area, age, sex, w)"
    else:  # SQLite names the VALUES columns column1..column4
        sql = (
            "SELECT column1 AS area, column2 AS age, column3 AS sex, column4 AS w "
            f"FROM (VALUES {values})"
        )
    return text(sql).columns(*cols, column("w", Float)).subquery("w")


def _to_counts(
    rows: Sequence[Any], names: list[str], source: str, weighted: bool = False
) -> Counts:
    width = len(names)
    extra = 3 if weighted else 0
    cols = list(zip(*rows, strict=True)) if rows else [() for _ in range(width + 3 + extra)]
    keys = {}
    for i, name in enumerate(names):
        if name in ("unit", "area"):
            keys[name] = np.asarray(cols[i], dtype=np.int64)
        else:
            keys[name] = np.asarray(["" if v is None else str(v) for v in cols[i]], dtype=object)
    return Counts(
        keys=keys,
        question=np.asarray(cols[width], dtype=object),
        value=np.asarray(cols[width + 1], dtype=float),
        n=np.asarray(cols[width + 2], dtype=np.int64),
        source=source,
        wn=np.asarray(cols[width + 3] if weighted else cols[width + 2], dtype=float),
        w2n=np.asarray(cols[width + 4] if weighted else cols[width + 2], dtype=float),
        w4n=np.asarray(cols[width + 5] if weighted else cols[width + 2], dtype=float),
    )


def _fetch_raw(
    session: Session,
    campaign_id: int,
    fields: list[str],
    period: str | None,
    include_flagged: bool,
    filters: Filters,
    dialect: str,
    weights: dict[tuple[int, str, str], float] | None = None,
) -> Counts:
    r = SurveyResponse
    cols: dict[str, SQLColumnExpression[Any]] = {}
    for f in fields:
        if f == "unit":
            cols[f] = col(r.unit_id)
        elif f == "area":
            cols[f] = func.coalesce(r.area_unit_id, 0)
        elif f in ("age_band", "sex"):
            cols[f] = func.coalesce(getattr(r, f), "")
        elif f == "period":
            cols[f] = _period_expr(dialect, _raw_day(dialect), period or "month")
    keys = [label(f"k_{k}", v) for k, v in cols.items()]
    conds: list[Any] = [r.campaign_id == campaign_id]
    if not include_flagged:
        conds.append(r.flagged == false())
    if filters.unit_id is not None:
        conds.append(r.unit_id == filters.unit_id)
    if filters.area_id is not None:
        conds.append(r.area_unit_id == filters.area_id)
    if filters.age_band is not None:
        conds.append(r.age_band == filters.age_band)
    if filters.sex is not None:
        conds.append(r.sex == filters.sex)
    sums: list[Any] = [func.count()]
    wt = None
    if weights is not None:
        wt = _weights_cte(weights, dialect, session)
        w2 = wt.c.w * wt.c.w
        sums += [func.sum(wt.c.w), func.sum(w2), func.sum(w2 * w2)]
    on = None
    if wt is not None:
        on = (
            (wt.c.area == func.coalesce(r.area_unit_id, 0))
            & (wt.c.age == func.coalesce(r.age_band, ""))
            & (wt.c.sex == func.coalesce(r.sex, ""))
        )
    answers = (
        select(*keys, col(Answer.question_key), col(Answer.value_num), *sums)
        .select_from(r)
        .join(Answer, col(Answer.response_id) == col(r.id))
    )
    people = select(*keys, literal(RESPONSE_KEY), literal(0.0), *sums).select_from(r)
    if wt is not None:
        answers = answers.join(wt, on)
        people = people.join(wt, on)
    answers = answers.where(*conds, col(Answer.value_num).is_not(None)).group_by(
        *cols.values(), col(Answer.question_key), col(Answer.value_num)
    )
    people = people.where(*conds).group_by(*cols.values())
    rows = list(session.execute(answers).all()) + list(session.execute(people).all())
    return _to_counts(rows, list(cols), "raw", weighted=weights is not None)


def plain_group_by(session: Session, *, campaign_id: int) -> list[Any]:
    """The naive query the statistics replace: mean per unit and dimension over raw answers."""
    stmt = (
        select(
            col(SurveyResponse.unit_id),
            col(Question.dimension),
            func.count(),
            func.avg(col(Answer.value_num)),
        )
        .select_from(SurveyResponse)
        .join(Answer, col(Answer.response_id) == col(SurveyResponse.id))
        .join(Campaign, col(Campaign.id) == col(SurveyResponse.campaign_id))
        .join(
            Question,
            (col(Question.survey_id) == col(Campaign.survey_id))
            & (col(Question.key) == col(Answer.question_key)),
        )
        .where(
            col(SurveyResponse.campaign_id) == campaign_id,
            col(SurveyResponse.flagged) == false(),
            col(Question.type) == "rating",
        )
        .group_by(col(SurveyResponse.unit_id), col(Question.dimension))
    )
    return list(session.execute(stmt).all())
