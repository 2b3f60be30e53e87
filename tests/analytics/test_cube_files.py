"""The columns' files: counts equal the in-memory copy's, a restart maps them instead of
reading every response again, another process reads the same generation, new responses show."""

from __future__ import annotations

import fcntl
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from sqlmodel import Session

from analytics import indicators
from analytics.indicators import cube, cube_files, cube_load, queries
from analytics.indicators.weighting import cell_weights
from surveys.forms.stats import RESPONSE_KEY
from tests.synthetic import Synthetic, add_responses

GROUPINGS: list[dict[str, Any]] = [
    {"fields": ["unit"], "period": None},
    {"fields": ["area", "period"], "period": "month"},
    {"fields": ["age_band", "sex"], "period": None},
    {"fields": ["unit", "period"], "period": "week"},
    {"fields": ["period"], "period": "day", "include_flagged": True},
    {"fields": ["unit"], "period": None, "weighted": True},
]


@pytest.fixture(autouse=True)
def _files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    where = tmp_path / "columns"
    monkeypatch.setenv("MINYI_ANALYTICS_DIR", str(where))
    monkeypatch.setattr(cube_files, "PERSIST_ROWS", 500)
    cube.forget()
    yield where
    cube.forget()


def _counts(session: Session, syn: Synthetic, view: dict[str, Any]) -> queries.Counts:
    weights = None
    if view.get("weighted"):
        campaign = indicators.get_campaign(session, syn.campaign_id)
        weights, _ = cell_weights(session, campaign, False, 5)
    return cube.counts(
        session,
        campaign_id=syn.campaign_id,
        fields=view["fields"],
        period=view["period"],
        include_flagged=bool(view.get("include_flagged")),
        filters=queries.Filters(),
        weights=weights,
        k=5 if view.get("weighted") else 0,
    )


def _same(a: queries.Counts, b: queries.Counts) -> None:
    assert list(a.keys) == list(b.keys)
    for f in a.keys:
        assert a.keys[f].tolist() == b.keys[f].tolist()
    assert a.question.tolist() == b.question.tolist()
    for name in ("value", "n", "wn", "w2n", "w4n"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.weights == b.weights


def test_file_counts_equal_in_memory_counts_exactly(
    session: Session, synthetic: Callable[..., Synthetic], monkeypatch: pytest.MonkeyPatch
) -> None:
    syn = synthetic(n=1300, units=4, areas=3, seed=21)
    from_files = [_counts(session, syn, v) for v in GROUPINGS]
    mapped = cube.refresh(session, campaign_id=syn.campaign_id)
    assert mapped.base is not None and mapped.base.size == 1300 and mapped.size == 0
    cube.forget()
    monkeypatch.setattr(cube_files, "root", lambda url: None)
    for view, counted in zip(GROUPINGS, from_files, strict=True):
        _same(counted, _counts(session, syn, view))
        raw = queries.fetch_counts(
            session,
            source="raw",
            campaign_id=syn.campaign_id,
            fields=view["fields"],
            period=view["period"],
            include_flagged=bool(view.get("include_flagged")),
            filters=queries.Filters(),
            weights=None,
        )
        if not view.get("weighted"):
            assert int(raw.n.sum()) == int(counted.n.sum())


def test_a_restart_maps_the_files_and_reads_only_new_responses(
    app: FastAPI,
    session: Session,
    synthetic: Callable[..., Synthetic],
    monkeypatch: pytest.MonkeyPatch,
    _files: Path,
) -> None:
    syn = synthetic(n=800, units=3, areas=2, seed=5)
    before = _counts(session, syn, GROUPINGS[0])
    assert len(list(_files.glob("c*/gen-*"))) == 1
    cube.forget()  # a new worker process starts with nothing in memory
    read: list[int] = []
    original = cube_load.load_new

    def counting(session: Session, c: Any, campaign_id: int, chunk: int) -> None:
        size = c.size
        original(session, c, campaign_id, chunk)
        read.append(c.size - size)

    monkeypatch.setattr(cube, "load_new", counting)
    _same(before, _counts(session, syn, GROUPINGS[0]))
    assert read == [0]

    add_responses(app.state.engine, syn, n=40, seed=6, flagged_share=0.0)
    session.rollback()
    after = _counts(session, syn, GROUPINGS[0])
    assert read[-1] == 40
    assert int(after.n[after.question == RESPONSE_KEY].sum()) == (
        int(before.n[before.question == RESPONSE_KEY].sum()) + 40
    )


def test_the_next_generation_joins_the_mapped_one_and_the_tail(
    app: FastAPI,
    session: Session,
    synthetic: Callable[..., Synthetic],
    monkeypatch: pytest.MonkeyPatch,
    _files: Path,
) -> None:
    syn = synthetic(n=800, units=3, areas=2, seed=7)
    first = cube.refresh(session, campaign_id=syn.campaign_id).watermark
    add_responses(app.state.engine, syn, n=600, seed=8)  # a tail past PERSIST_ROWS
    session.rollback()
    joined = [_counts(session, syn, view) for view in GROUPINGS]
    mapped = cube.refresh(session, campaign_id=syn.campaign_id)
    assert mapped.watermark > first and mapped.base is not None
    assert mapped.base.size == 1400 and mapped.size == 0
    cube.forget()  # every response read again into memory, no files
    monkeypatch.setattr(cube_files, "root", lambda url: None)
    for view, counted in zip(GROUPINGS, joined, strict=True):
        # A value first met in the tail has a later code than in one pass over every
        # response, so the rows may come in another order: the same rows, the same counts.
        assert _rows(counted) == _rows(_counts(session, syn, view))


def test_a_computation_stays_on_the_generation_it_started_on(
    app: FastAPI, session: Session, synthetic: Callable[..., Synthetic]
) -> None:
    syn = synthetic(n=800, units=3, areas=2, seed=9)
    first = cube.refresh(session, campaign_id=syn.campaign_id).base
    assert first is not None
    add_responses(app.state.engine, syn, n=600, seed=10)  # a tail past PERSIST_ROWS
    session.rollback()
    with cube.one_generation():
        held = cube.refresh(session, campaign_id=syn.campaign_id)
        # The new responses are read, and kept in the tail instead of a next generation.
        assert held.base is first and held.size == 600
        during = [_counts(session, syn, view) for view in GROUPINGS]
    moved = cube.refresh(session, campaign_id=syn.campaign_id)
    assert moved.base is not first and moved.base is not None
    assert moved.base.size == 1400 and moved.size == 0
    for view, counted in zip(GROUPINGS, during, strict=True):
        _same(counted, _counts(session, syn, view))


def _rows(c: queries.Counts) -> list[tuple[Any, ...]]:
    cols = [c.keys[f].tolist() for f in c.keys] + [c.question.tolist()]
    cols += [getattr(c, name).tolist() for name in ("value", "n", "wn", "w2n", "w4n")]
    return sorted(zip(*cols, strict=True))


_CHILD = """
import json, sys
from sqlmodel import Session
from analytics.indicators import cube, queries
from service.db import make_engine
engine = make_engine(sys.argv[1])
with Session(engine) as s:
    c = cube.counts(s, campaign_id=int(sys.argv[2]), fields=["unit"], period=None,
                    include_flagged=False, filters=queries.Filters(), weights=None)
    mapped = cube.refresh(s, campaign_id=int(sys.argv[2]))
    print(json.dumps({"n": c.n.tolist(), "wn": c.wn.tolist(), "tail": mapped.size,
                      "mapped": mapped.base.size if mapped.base is not None else 0}))
"""


def test_another_process_maps_the_same_generation(
    app: FastAPI, session: Session, synthetic: Callable[..., Synthetic], _files: Path
) -> None:
    syn = synthetic(n=700, units=3, areas=2, seed=8)
    mine = _counts(session, syn, GROUPINGS[0])
    url = app.state.engine.url.render_as_string(hide_password=False)
    env = {"MINYI_ANALYTICS_DIR": str(_files), "PATH": "/usr/bin:/bin"}
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, url, str(syn.campaign_id)],
        capture_output=True,
        text=True,
        check=True,
        cwd=root,
        env=env | {"PYTHONPATH": str(root)},
        timeout=120,
    )
    theirs = json.loads(out.stdout.strip().splitlines()[-1])
    assert theirs["mapped"] == 700 and theirs["tail"] == 0
    assert theirs["n"] == mine.n.tolist() and theirs["wn"] == mine.wn.tolist()


def test_the_copy_views_equal_sql_when_read_from_files(
    session: Session, synthetic: Callable[..., Synthetic], _files: Path
) -> None:
    # The in-memory copy's own check (every kind of grouping, weighted, filtered), with the
    # columns written out and mapped after the first view.
    from tests.analytics.test_cube import test_columns_equal_sql_on_raw_responses

    test_columns_equal_sql_on_raw_responses(session, synthetic)
    assert len(list(_files.glob("c*/gen-*"))) == 1


def test_one_writer_at_a_time(tmp_path: Path) -> None:
    cols = {"rid": np.arange(1, 4, dtype=np.int64)}
    kw: dict[str, Any] = {"keys": [], "tables": {}, "cols": cols, "answers": {}}
    with cube_files.writer_lock(tmp_path) as mine:
        assert mine
        # A second process's open file of the lock.
        with open(tmp_path / "lock", "a+b") as other, pytest.raises(BlockingIOError):
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert not cube_files.write(tmp_path, watermark=3, **kw)  # someone else is writing
    assert cube_files.write(tmp_path, watermark=3, **kw)
    assert not cube_files.write(tmp_path, watermark=3, **kw)  # not newer: left as it is
    gen = cube_files.open_newest(tmp_path)
    assert gen is not None and gen.watermark == 3 and gen.cols["rid"].tolist() == [1, 2, 3]


def test_a_generation_on_a_base_holds_the_joined_columns_in_the_joined_type(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Rows converted a few at a time when a column widens: the chunks' joins are checked too.
    monkeypatch.setattr(cube_files, "_COPY_ROWS", 7)
    rng = np.random.default_rng(4)
    base_cols = {
        "rid": np.arange(1, 51, dtype=np.int64),
        "unit": rng.integers(0, 100, 50).astype(np.int32),  # int8 on disk
        "day": rng.integers(20000, 20090, 50).astype(np.int32),  # int16 on disk
        "flagged": rng.random(50) < 0.1,
    }
    base_answers = {"q1": rng.integers(-1, 5, 50).astype(np.int16)}
    tables: dict[str, list[Any]] = {}
    assert cube_files.write(
        tmp_path, watermark=50, keys=["q1"], tables=tables, cols=base_cols, answers=base_answers
    )
    base = cube_files.open_newest(tmp_path)
    assert base is not None and base.cols["unit"].dtype == np.int8
    tails = [
        # the same types: the base's bytes copied as they are
        ({"unit": rng.integers(0, 100, 30)}, {"q1": rng.integers(-1, 5, 30)}),
        # codes past int8 in the tail: the base widened to int16 on the way
        ({"unit": rng.integers(0, 300, 30)}, {"q1": rng.integers(-1, 200, 30)}),
        # no tail: the base alone
        ({"unit": np.zeros(0)}, {"q1": np.zeros(0)}),
    ]
    for i, (unit, answer) in enumerate(tails):
        m = len(unit["unit"])
        tail_cols = {
            "rid": np.arange(51, 51 + m, dtype=np.int64) + 100 * i,
            "unit": unit["unit"].astype(np.int32),
            "day": rng.integers(20080, 20100, m).astype(np.int32),
            "flagged": rng.random(m) < 0.1,
        }
        tail_answers = {"q1": answer["q1"].astype(np.int16)}
        out = tmp_path / f"next-{i}"
        assert cube_files.write(
            out,
            watermark=50 + m + 1,
            keys=["q1"],
            tables=tables,
            cols=tail_cols,
            answers=tail_answers,
            base=base,
        )
        gen = cube_files.open_newest(out)
        assert gen is not None
        for name in base_cols:
            want = cube_files._narrow(name, np.concatenate([base_cols[name], tail_cols[name]]))
            assert gen.cols[name].dtype == want.dtype, name
            assert np.array_equal(gen.cols[name], want), name
        want = cube_files._narrow("a0", np.concatenate([base_answers["q1"], tail_answers["q1"]]))
        assert gen.answers["q1"].dtype == want.dtype and np.array_equal(gen.answers["q1"], want)
