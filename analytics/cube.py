"""An in-process columnar copy of a campaign's responses, for the flexible views.

The statistics table ``stat_unit`` answers the main views (indicators by unit and dimension,
ranking) from a few thousand rows. Breakdowns by area, profile, period and weighted figures
need finer keys; tables keyed that finely were measured at close to one row per answer (a
GROUP BY over them took 1-2 s at a million responses, and keeping them quadrupled the cost of
storing a response). So each worker process keeps, per campaign, numpy columns
of its responses (unit, area, age band, sex, day, flagged) and of their numeric answers,
and counts any grouping with ``np.bincount``. The database stays the record: the copy is
loaded from it once, then brought up to date on every request by reading only the responses
with a larger id (responses are append-only: they are never edited, and their ``flagged``
state is set when they are stored). The result has exactly the shape of the SQL counts, so
the statistics downstream are the same code.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlmodel import Session

from analytics.queries import Counts, Filters
from surveys.forms.models import Answer, Campaign, SurveyResponse
from surveys.forms.stats import RESPONSE_KEY, StatUnit

EPOCH = date(1970, 1, 1)
_GROW = 1.5


def _day_number(value: datetime) -> int:
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return (value.date() - EPOCH).days


@dataclass
class _Cube:
    """One campaign's responses as columns (capacity grows like a list)."""

    watermark: int = 0
    size: int = 0
    rid: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    unit: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    area: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    age: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    sex: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    day: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    flagged: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    answers: dict[str, np.ndarray] = field(default_factory=dict)
    ages: list[str] = field(default_factory=list)
    sexes: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _code(self, table: list[str], values: list[str]) -> np.ndarray:
        index = {v: i for i, v in enumerate(table)}
        out = np.empty(len(values), np.int32)
        for i, v in enumerate(values):
            code = index.get(v)
            if code is None:
                code = index[v] = len(table)
                table.append(v)
            out[i] = code
        return out

    def _reserve(self, extra: int) -> None:
        need = self.size + extra
        if need <= len(self.rid):
            return
        cap = max(need, int(len(self.rid) * _GROW), 1024)
        for name in ("rid", "unit", "area", "age", "sex", "day", "flagged"):
            old = getattr(self, name)
            new = np.zeros(cap, old.dtype)
            new[: self.size] = old[: self.size]
            setattr(self, name, new)
        for key, old in self.answers.items():
            new = np.full(cap, np.nan, np.float64)
            new[: self.size] = old[: self.size]
            self.answers[key] = new

    def append(self, rows: Sequence[Any], answers: Sequence[Any]) -> None:
        if not rows:
            return
        m = len(rows)
        self._reserve(m)
        s, e = self.size, self.size + m
        cols = list(zip(*rows, strict=True))
        self.rid[s:e] = cols[0]
        self.unit[s:e] = cols[1]
        self.area[s:e] = [a or 0 for a in cols[2]]
        self.age[s:e] = self._code(self.ages, [a or "" for a in cols[3]])
        self.sex[s:e] = self._code(self.sexes, [x or "" for x in cols[4]])
        self.day[s:e] = [_day_number(h) for h in cols[5]]
        self.flagged[s:e] = [bool(f) for f in cols[6]]
        if answers:
            arid, akey, aval = (np.asarray(c) for c in zip(*answers, strict=True))
            pos = s + np.searchsorted(self.rid[s:e], arid.astype(np.int64))
            for key in np.unique(akey).tolist():
                col = self.answers.get(key)
                if col is None:
                    col = self.answers[key] = np.full(len(self.rid), np.nan, np.float64)
                sel = akey == key
                col[pos[sel]] = aval[sel].astype(np.float64)
        self.size = e
        self.watermark = int(self.rid[e - 1])


_cubes: dict[tuple[str, int, str], _Cube] = {}
_cubes_lock = threading.Lock()


def _cube(session: Session, campaign_id: int) -> _Cube:
    # The creation time tells a campaign from a later one that reuses its id (a wiped test
    # database, a restored backup).
    created = session.execute(
        select(Campaign.created_at).where(Campaign.id == campaign_id)
    ).scalar()
    key = (str(session.get_bind().url), campaign_id, str(created))
    with _cubes_lock:
        cube = _cubes.get(key)
        if cube is None:
            cube = _cubes[key] = _Cube()
    return cube


def refresh(session: Session, *, campaign_id: int, chunk: int = 200_000) -> _Cube:
    """The campaign's columns, brought up to date with the database (new responses only)."""
    cube = _cube(session, campaign_id)
    with cube.lock:
        _load_new(session, cube, campaign_id, chunk)
        if cube.size == responses_stored(session, campaign_id=campaign_id):
            return cube
    # Responses went away, or the statistics disagree: start again from the database.
    forget(campaign_id)
    cube = _cube(session, campaign_id)
    with cube.lock:
        _load_new(session, cube, campaign_id, chunk)
    return cube


def _load_new(session: Session, cube: _Cube, campaign_id: int, chunk: int) -> None:
    r = SurveyResponse
    while True:
        rows = session.execute(
            select(r.id, r.unit_id, r.area_unit_id, r.age_band, r.sex, r.submitted_hour, r.flagged)
            .where(r.campaign_id == campaign_id, r.id > cube.watermark)  # type: ignore[operator]
            .order_by(r.id)
            .limit(chunk)
        ).all()
        if not rows:
            return
        last = rows[-1][0]
        answers = session.execute(
            select(Answer.response_id, Answer.question_key, Answer.value_num)
            .join(r, r.id == Answer.response_id)  # type: ignore[arg-type]
            .where(
                r.campaign_id == campaign_id,
                r.id > cube.watermark,  # type: ignore[operator]
                r.id <= last,
                Answer.value_num.is_not(None),  # type: ignore[union-attr]
            )
        ).all()
        cube.append(rows, answers)
        if len(rows) < chunk:
            return


def responses_stored(session: Session, *, campaign_id: int) -> int:
    """Responses of the campaign per the statistics (one tiny query)."""
    c = StatUnit.__table__.c  # type: ignore[attr-defined]
    total = session.execute(
        select(func.coalesce(func.sum(c.n), 0)).where(
            c.campaign_id == campaign_id, c.question_key == RESPONSE_KEY
        )
    ).scalar_one()
    return int(total)


def forget(campaign_id: int | None = None) -> None:
    """Drop cached columns (after a rebuild or in tests)."""
    with _cubes_lock:
        for key in [k for k in _cubes if campaign_id is None or k[1] == campaign_id]:
            del _cubes[key]


def _period_labels(days: np.ndarray, period: str) -> tuple[np.ndarray, np.ndarray]:
    """(label per distinct period, code per row) for day numbers since 1970-01-01."""
    if period == "week":
        # 1970-01-01 was a Thursday: shift so weeks start on Monday.
        start = days - ((days + 3) % 7)
        u, inv = np.unique(start, return_inverse=True)
        labels = np.array([(EPOCH.toordinal() + int(d)) for d in u.tolist()])
        text = [date.fromordinal(int(o)).isoformat() for o in labels.tolist()]
    elif period == "month":
        months = days.astype("datetime64[D]").astype("datetime64[M]")
        u, inv = np.unique(months, return_inverse=True)
        text = [np.datetime_as_string(m, unit="M") for m in u]
    else:
        u, inv = np.unique(days, return_inverse=True)
        text = [date.fromordinal(EPOCH.toordinal() + int(d)).isoformat() for d in u.tolist()]
    return np.array(text, dtype=object), inv.astype(np.int64).reshape(-1)


def counts(
    session: Session,
    *,
    campaign_id: int,
    fields: Sequence[str],
    period: str | None,
    include_flagged: bool,
    filters: Filters,
    weights: dict[tuple[int, str, str], float] | None,
) -> Counts:
    """The same counts ``queries.fetch_counts`` gives, computed from the columns."""
    cube = refresh(session, campaign_id=campaign_id)
    with cube.lock:
        n = cube.size
        keep = np.ones(n, bool) if include_flagged else ~cube.flagged[:n]
        if filters.unit_id is not None:
            keep &= cube.unit[:n] == filters.unit_id
        if filters.area_id is not None:
            keep &= cube.area[:n] == filters.area_id
        if filters.age_band is not None:
            code = cube.ages.index(filters.age_band) if filters.age_band in cube.ages else -1
            keep &= cube.age[:n] == code
        if filters.sex is not None:
            code = cube.sexes.index(filters.sex) if filters.sex in cube.sexes else -1
            keep &= cube.sex[:n] == code
        idx = np.flatnonzero(keep)
        unit, area = cube.unit[idx], cube.area[idx]
        age, sex, day = cube.age[idx], cube.sex[idx], cube.day[idx]
        answers = {k: v[idx] for k, v in cube.answers.items()}
        ages, sexes = (
            np.array(cube.ages + [""], dtype=object),
            np.array(cube.sexes + [""], dtype=object),
        )
    w = np.ones(len(idx))
    if weights is not None:
        lut = np.ones((int(area.max(initial=0)) + 1, len(ages), len(sexes)))
        age_pos = {a: i for i, a in enumerate(ages.tolist())}
        sex_pos = {s: i for i, s in enumerate(sexes.tolist())}
        for (a, g, x), wt in weights.items():
            if a < lut.shape[0] and g in age_pos and x in sex_pos:
                lut[a, age_pos[g], sex_pos[x]] = wt
        w = lut[area, age, sex]
    # Group codes per row, with the labels of each grouping field.
    labels: list[np.ndarray] = []
    codes: list[np.ndarray] = []
    for f in fields:
        if f == "unit":
            u, c = np.unique(unit, return_inverse=True)
        elif f == "area":
            u, c = np.unique(area, return_inverse=True)
        elif f == "age_band":
            u0, c = np.unique(age, return_inverse=True)
            u = ages[u0]
        elif f == "sex":
            u0, c = np.unique(sex, return_inverse=True)
            u = sexes[u0]
        else:
            u, c = _period_labels(day, period or "month")
        labels.append(np.asarray(u))
        codes.append(np.asarray(c, dtype=np.int64).reshape(-1))
    dims = [max(len(u), 1) for u in labels]
    group = np.ravel_multi_index(codes, dims) if codes else np.zeros(len(idx), np.int64)
    size = int(np.prod(dims)) if dims else 1

    out_keys: list[list[np.ndarray]] = [[] for _ in fields]
    out_q: list[np.ndarray] = []
    out_v: list[np.ndarray] = []
    out_n: list[np.ndarray] = []
    out_wn: list[np.ndarray] = []
    out_w2n: list[np.ndarray] = []

    def emit(key: str, values: np.ndarray, g: np.ndarray, ww: np.ndarray) -> None:
        vals, vcode = np.unique(values, return_inverse=True)
        nv = len(vals)
        combo = g * nv + vcode.reshape(-1)
        nb = np.bincount(combo, minlength=size * nv)
        present = np.flatnonzero(nb)
        wn = np.bincount(combo, weights=ww, minlength=size * nv)[present]
        w2n = np.bincount(combo, weights=ww * ww, minlength=size * nv)[present]
        gi, vi = np.divmod(present, nv)
        parts = np.unravel_index(gi, dims) if fields else ()
        for j in range(len(fields)):
            out_keys[j].append(labels[j][parts[j]])
        out_q.append(np.full(len(present), key, dtype=object))
        out_v.append(vals[vi].astype(float))
        out_n.append(nb[present])
        out_wn.append(wn)
        out_w2n.append(w2n)

    emit(RESPONSE_KEY, np.zeros(len(idx)), group, w)
    for key in sorted(answers):
        col = answers[key]
        ok = ~np.isnan(col)
        if ok.any():
            emit(key, col[ok].astype(float), group[ok], w[ok])

    def cat(parts: list[np.ndarray], dtype: Any) -> np.ndarray:
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)

    keys: dict[str, np.ndarray] = {}
    for j, f in enumerate(fields):
        keys[f] = cat(out_keys[j], np.int64 if f in ("unit", "area") else object)
    return Counts(
        keys=keys,
        question=cat(out_q, object),
        value=cat(out_v, float),
        n=cat(out_n, np.int64),
        source="columns",
        wn=cat(out_wn, float),
        w2n=cat(out_w2n, float),
    )
