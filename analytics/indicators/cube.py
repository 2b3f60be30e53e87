"""A columnar copy of a campaign's responses, for the flexible views.

The statistics table ``stat_unit`` answers the main views (indicators by unit and dimension,
ranking) from a few thousand rows. Breakdowns by area, profile, period and weighted figures
need finer keys; tables keyed that finely were measured at close to one row per answer (a
GROUP BY over them took 1-2 s at a million responses, and keeping them quadrupled the cost of
storing a response). So each campaign has numpy columns of its responses (unit, area, age
band, sex, day, flagged, each as a small integer code) and of their rating and NPS answers
(as codes of the scale point), and any grouping is counted with ``np.bincount``, in time
linear in the responses and without sorting. The database stays the record: the columns are
mapped from the newest generation of files every worker shares (``cube_files``: a worker that
starts reads only the responses stored after it), then brought up to date on every request
by reading only the responses with a larger id (responses are append-only: never edited,
their ``flagged`` state set when stored; a campaign's copy is keyed by its id and creation
time). The result has exactly the shape of the SQL counts, so the statistics downstream are
the same code.

A view does not pass over every row on every request: counts are keyed by stable codes, so
the counts of the rows an earlier request saw are kept (``cube_query.Memo``, per process) and
only newer rows are counted and added (``cube_query``, ``cube_tally``); disclosure blocks are
built from respondents per cell, and weighted views from answers per cell
(``cube_weighted``).
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlmodel import Session

from analytics.indicators import cube_files, cube_memo, cube_query
from analytics.indicators.cube_load import load_new
from analytics.indicators.queries import Counts, Filters, campaign_questions
from surveys.forms.models import Campaign

_COPIES = itertools.count()
_GROW = 1.5
_COLS = {
    "rid": np.int64,
    "unit": np.int32,
    "area": np.int32,
    "age": np.int32,
    "sex": np.int32,
    "day": np.int32,
    "flagged": np.bool_,
}


class _Table:
    """Values seen so far and their codes (codes never change once given)."""

    def __init__(self, values: Sequence[Any] = ()) -> None:
        self.values: list[Any] = list(values)
        self.index: dict[Any, int] = {v: i for i, v in enumerate(self.values)}

    def codes(self, column: np.ndarray) -> np.ndarray:
        """Codes of a chunk's values (one dictionary look-up per distinct value)."""
        uniq, inv = np.unique(column, return_inverse=True)
        mapped = np.empty(len(uniq), np.int32)
        for i, v in enumerate(uniq.tolist()):
            code = self.index.get(v)
            if code is None:
                code = self.index[v] = len(self.values)
                self.values.append(v)
            mapped[i] = code
        return mapped[inv.reshape(-1)]


@dataclass
class _Cube:
    keys: list[str]
    files: Path | None = None  # where its generations live (cube_files); None: memory only
    base: cube_files.Generation | None = None  # the mapped generation; cols hold the tail
    watermark: int = 0
    size: int = 0
    cols: dict[str, np.ndarray] = field(default_factory=dict)
    answers: dict[str, np.ndarray] = field(default_factory=dict)  # code of the value, -1 none
    tables: dict[str, _Table] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Names this copy's entries in the process's kept counts (``cube_memo.MEMO``).
    lineage: str = field(default_factory=lambda: f"copy-{next(_COPIES)}")

    def __post_init__(self) -> None:
        self.cols = {name: np.zeros(0, dt) for name, dt in _COLS.items()}
        self.answers = {k: np.zeros(0, np.int16) for k in self.keys}
        self.tables = {name: _Table() for name in ("unit", "area", "age", "sex", *self.keys)}

    def adopt(self, gen: cube_files.Generation) -> None:
        """Answer from ``gen`` plus the responses after it (the tail is read again)."""
        # The kept counts (``cube_memo.MEMO``) name values by this process's codes: they stay
        # valid only if the generation (maybe written by another process, which met new values
        # in another order) gave every value seen here the same code.
        same = all(
            gen.tables.get(name, [])[: len(t.values)] == t.values for name, t in self.tables.items()
        )
        if not same:
            cube_memo.MEMO.drop(self.lineage)
        self.__post_init__()
        self.tables = {name: _Table(values) for name, values in gen.tables.items()}
        self.base = gen
        self.size = 0
        self.watermark = gen.watermark

    def _reserve(self, extra: int) -> None:
        need = self.size + extra
        cap = len(self.cols["rid"])
        if need <= cap:
            return
        cap = max(need, int(cap * _GROW), 1024)
        for name, old in self.cols.items():
            new = np.zeros(cap, old.dtype)
            new[: self.size] = old[: self.size]
            self.cols[name] = new
        for key, old in self.answers.items():
            new = np.full(cap, -1, np.int16)
            new[: self.size] = old[: self.size]
            self.answers[key] = new

    def append(self, rows: Sequence[Sequence[Any]], values: np.ndarray) -> None:
        """Add responses (id, unit, area, age band, sex, day, flagged) and answers[key, row]."""
        if not rows:
            return
        m = len(rows)
        self._reserve(m)
        s, e = self.size, self.size + m
        cols = list(zip(*rows, strict=True))
        c = self.cols
        c["rid"][s:e] = np.asarray(cols[0], np.int64)
        c["unit"][s:e] = self.tables["unit"].codes(np.asarray(cols[1], np.int64))
        c["area"][s:e] = self.tables["area"].codes(np.asarray(cols[2], np.int64))
        c["age"][s:e] = self.tables["age"].codes(np.asarray(cols[3], dtype=object))
        c["sex"][s:e] = self.tables["sex"].codes(np.asarray(cols[4], dtype=object))
        c["day"][s:e] = np.asarray(cols[5], np.int64)
        c["flagged"][s:e] = np.asarray(cols[6], dtype=bool)
        for j, key in enumerate(self.keys):
            raw = values[j]
            ok = ~np.isnan(raw)
            out = np.full(m, -1, np.int16)
            if ok.any():
                out[ok] = self.tables[key].codes(raw[ok])
            self.answers[key][s:e] = out
        self.size = e
        self.watermark = int(c["rid"][e - 1])


_cubes: dict[tuple[str, int, str], _Cube] = {}
_cubes_lock = threading.Lock()


def _cube(session: Session, campaign_id: int) -> _Cube:
    # The creation time tells a campaign from a later one that reuses its id (a wiped test
    # database, a restored backup).
    campaign = session.get(Campaign, campaign_id)
    url = session.get_bind().engine.url
    created = str(campaign.created_at if campaign else "")
    key = (str(url), campaign_id, created)
    with _cubes_lock:
        cube = _cubes.get(key)
    if cube is not None:
        return cube
    keys = sorted(campaign_questions(session, campaign=campaign)) if campaign else []
    where = cube_files.root(url) if campaign else None
    files = cube_files.campaign_dir(where, url, campaign_id, created) if where else None
    with _cubes_lock:
        return _cubes.setdefault(key, _Cube(keys=keys, files=files))


def forget(campaign_id: int | None = None) -> None:
    """Drop the in-process columns (in tests); the next view maps the newest generation."""
    with _cubes_lock:
        for key in [k for k in _cubes if campaign_id is None or k[1] == campaign_id]:
            cube_memo.MEMO.drop(_cubes.pop(key).lineage)


_held = threading.local()


@contextlib.contextmanager
def one_generation() -> Iterator[None]:
    """Within, this thread's views leave each campaign copy on the generation it maps (newer
    responses are still read from the database into its tail). A computation of many figures
    (a dashboard bundle: 7-17 s at ten million responses) that met a newer generation halfway
    mapped both at once, the old one's pages held by its earlier figures' snapshots until it
    ended (up to 465 MB in the refresh process). Other threads may still move a shared copy
    on."""
    depth = getattr(_held, "depth", 0)
    _held.depth = depth + 1
    try:
        yield
    finally:
        _held.depth = depth


def refresh(session: Session, *, campaign_id: int, chunk: int = 100_000) -> _Cube:
    """The campaign's columns, brought up to date with the database (new responses only)."""
    cube = _cube(session, campaign_id)
    with cube.lock:
        held = getattr(_held, "depth", 0) > 0 and cube.base is not None
        if cube.files is not None and not held:
            _adopt_newer(cube, cube.files)
        load_new(session, cube, campaign_id, chunk)
        if cube.files is not None and not held and cube.size >= cube_files.PERSIST_ROWS:
            _persist(cube, cube.files)
    return cube


def _adopt_newer(cube: _Cube, files: Path) -> None:
    """Move onto a generation newer than the one mapped (another process wrote it)."""
    mapped = cube.base.watermark if cube.base is not None else 0
    if cube_files.newest_watermark(files) <= mapped:
        return
    gen = cube_files.open_newest(files)
    if gen is not None and gen.watermark > mapped and gen.keys == cube.keys:
        cube.adopt(gen)


def _persist(cube: _Cube, files: Path) -> None:
    """Write generation + tail as the next generation, then map it instead of the tail."""
    n = cube.size
    written = cube_files.write(
        files,
        watermark=cube.watermark,
        keys=cube.keys,
        tables={name: list(t.values) for name, t in cube.tables.items()},
        cols={k: v[:n] for k, v in cube.cols.items()},
        answers={k: v[:n] for k, v in cube.answers.items()},
        base=cube.base,
    )
    if written:
        _adopt_newer(cube, files)


def _kept(
    c: Mapping[str, np.ndarray], tables: dict[str, Any], include_flagged: bool, filters: Filters
) -> np.ndarray:
    """Rows the query covers: unflagged unless asked otherwise, and inside the filters."""
    n = len(c["rid"])
    keep = np.ones(n, bool) if include_flagged else ~c["flagged"]
    for name, value in cube_query.filter_values(filters):
        keep &= c[name] == tables[name][1].get(value, -1)
    return keep


def _snap(session: Session, campaign_id: int) -> cube_query.Snap:
    """The cube brought up to date: its generation and a consistent view of its tail."""
    cube = refresh(session, campaign_id=campaign_id)
    with cube.lock:
        n = cube.size
        b = cube.base
        return cube_query.Snap(
            keys=list(cube.keys),
            base_cols=dict(b.cols) if b is not None else None,
            base_answers=dict(b.answers) if b is not None else None,
            lineage=cube.lineage,
            cols={k: v[:n] for k, v in cube.cols.items()},
            answers={k: v[:n] for k, v in cube.answers.items()},
            tables={k: (list(t.values), dict(t.index)) for k, t in cube.tables.items()},
            memo=cube_memo.MEMO,
        )


def groups(
    session: Session,
    *,
    campaign_id: int,
    fields: Sequence[str],
    period: str | None,
    include_flagged: bool,
    filters: Filters,
    k: int,
) -> dict[tuple[Any, ...], tuple[int, bool]]:
    """Every group (values of ``fields``) the query covers: its respondents, and whether they
    are whole disclosure blocks (``analytics.indicators.disclosure``)."""
    return cube_query.groups(
        _snap(session, campaign_id),
        fields=fields,
        period=period,
        include_flagged=include_flagged,
        filters=filters,
        k=k,
    )


def published(
    session: Session,
    *,
    campaign_id: int,
    fields: Sequence[str],
    period: str | None,
    include_flagged: bool,
    filters: Filters,
    k: int,
) -> dict[tuple[Any, ...], int]:
    """The groups (see ``groups``) whose respondents are whole disclosure blocks, with their
    respondents: the only groups any view may publish."""
    found = groups(
        session,
        campaign_id=campaign_id,
        fields=fields,
        period=period,
        include_flagged=include_flagged,
        filters=filters,
        k=k,
    )
    return {key: n for key, (n, whole) in found.items() if whole}


def counts(
    session: Session,
    *,
    campaign_id: int,
    fields: Sequence[str],
    period: str | None,
    include_flagged: bool,
    filters: Filters,
    weights: dict[tuple[int, str, str], float] | None,
    k: int = 0,
) -> Counts:
    """The same counts ``queries.fetch_counts(source="raw")`` gives, from the columns.

    With ``weights`` and ``k``, each respondent's weight is the mean weight of its disclosure
    block, so weighted sums are combinations of block totals (``weighting.cell_weights``)."""
    return cube_query.counts(
        _snap(session, campaign_id),
        fields=fields,
        period=period,
        include_flagged=include_flagged,
        filters=filters,
        weights=weights,
        k=k,
    )
