"""Peak memory and time of one district-wide reliability computation, in one process.

Synthesizes ``--rows`` respondents in the shape of a campaign's columns (``cube_query.Snap``):
a generation of int8 answer codes and a tail of ``--tail`` newer rows in int16, a share of
them flagged (left out, as the views do by default), five rating questions on 1-5 in three
dimensions (two of two questions, one of one; a fifth of answers skipped, answers correlated
through a latent trait), with no database. Then computes what ``reliability.reliability``
computes for the district-wide group (or, with ``--units``, for each unit): Cronbach's alpha
of the two multi-question dimensions and the correlations of the three dimensions' scores.
Usage::

    .venv/bin/python bench/reliability_memory.py --rows 10000000
    .venv/bin/python bench/reliability_memory.py --rows 10000000 --before <commit>

``--before`` runs the implementation of that commit instead (``reliability.py`` and
``respondents.py`` read with ``git show``; its per-group loop as it was); ``--chunk`` sets the
respondents per chunk of the working tree's code. Printed: from a first computation with
tracemalloc on, the peak of what numpy allocated above what it held at the start, and the
process's peak resident size above its size at the start (``VmHWM``, reset through
``/proc/self/clear_refs`` so the synthesis does not count; first, so no earlier computation
left freed pages in the heap); then the wall time of ``--runs`` more (median), a digest of
every group's figures (the same digest: the same figures) and the first group's figures.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analytics.indicators import reliability, respondents  # noqa: E402
from analytics.indicators.cube_memo import Memo  # noqa: E402
from analytics.indicators.cube_query import Snap  # noqa: E402
from analytics.indicators.queries import Filters, QuestionInfo  # noqa: E402

DIMS = {"attitude": ["a1", "a2"], "efficiency": ["e1", "e2"], "integrity": ["i1"]}
QUESTIONS = {k: QuestionInfo(k, "rating", d, 1.0, 5.0) for d, keys in DIMS.items() for k in keys}
SCALE = [1.0, 2.0, 3.0, 4.0, 5.0]
FLOOR = 10
BY_UNIT = False


def synth(rows: int, tail: int, units: int, seed: int = 1) -> Snap:
    """The columns of ``rows`` respondents: a generation (int8 codes) and a tail (int16)."""
    rng = np.random.default_rng(seed)
    unit = rng.integers(0, max(units, 1), rows, dtype=np.int32)
    trait = rng.standard_normal(rows, dtype=np.float32)
    answers: dict[str, np.ndarray] = {}
    for k in QUESTIONS:
        noise = rng.standard_normal(rows, dtype=np.float32)
        noise += trait
        code = np.clip(np.rint(noise + 2), 0, 4).astype(np.int8)
        code[rng.random(rows, dtype=np.float32) < 0.2] = -1
        answers[k] = code
        del noise
    del trait
    cols = {
        "rid": np.arange(1, rows + 1, dtype=np.int64),
        "flagged": rng.random(rows) < 0.02,
        "unit": unit,
    }
    del unit
    ids = list(range(1, max(units, 1) + 1))
    g = rows - tail
    table = (SCALE, {v: i for i, v in enumerate(SCALE)})
    return Snap(
        keys=sorted(QUESTIONS),
        base_cols={c: v[:g] for c, v in cols.items()},
        base_answers={k: v[:g] for k, v in answers.items()},
        lineage="bench",
        cols={c: v[g:].copy() for c, v in cols.items()},
        answers={k: v[g:].astype(np.int16) for k, v in answers.items()},
        tables={"unit": (ids, {v: i for i, v in enumerate(ids)}), **{k: table for k in QUESTIONS}},
        memo=Memo(),
    )


def _groups(mod: ModuleType, snap: Snap) -> list[Any]:
    units = snap.tables["unit"][0] if BY_UNIT else []
    return mod.from_snap(
        snap,
        shown={(u,): 1 for u in units} if BY_UNIT else {(): 1},
        fields=["unit"] if BY_UNIT else [],
        period=None,
        include_flagged=False,
        filters=Filters(),
        k=5,
    )


def after(snap: Snap) -> list[dict[str, Any]]:
    """The working tree's code: sums per group over chunks of the rows, in one pass."""
    multi = {d: keys for d, keys in DIMS.items() if len(keys) >= 2}
    composite = list(DIMS)
    groups = _groups(respondents, snap)
    alphas, pairs = reliability._figures(
        groups, multi, DIMS, composite, QUESTIONS, reliability.CHUNK
    )
    found = []
    for i in range(len(groups)):
        out: dict[str, Any] = {d: reliability._alpha_row(a, i, FLOOR) for d, a in alphas.items()}
        out.update({f"{a}~{b}": reliability._corr_row(p, i, FLOOR) for (a, b), p in pairs.items()})
        found.append(out)
    return found


def _load(name: str, source: str, tmp: Path) -> ModuleType:
    path = tmp / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def before_code(commit: str) -> tuple[ModuleType, ModuleType]:
    """That commit's respondents and reliability modules (reliability reading the former)."""

    def show(path: str) -> str:
        return subprocess.run(
            ["git", "show", f"{commit}:{path}"],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    tmp = Path(tempfile.mkdtemp())
    resp = _load("respondents_before", show("analytics/indicators/respondents.py"), tmp)
    rel_src = show("analytics/indicators/reliability.py").replace(
        "from analytics.indicators import respondents\n",
        "import respondents_before as respondents\n",
    )
    sys.path.insert(0, str(tmp))
    rel = _load("reliability_before", rel_src, tmp)
    if not hasattr(resp, "from_snap"):
        # Before the chunks: the groups were built inside ``answers`` from the session.
        def from_snap(snap: Snap, *, fields: list[str], **_kw: Any) -> list[Any]:
            keep = []
            kept = 0
            for c, _a in snap.pieces(0, snap.total):
                m = ~c["flagged"]
                keep.append(None if m.all() else m)
                kept += int(np.count_nonzero(m))
            if fields:
                order, starts, sizes, keys = resp._groups(snap, keep, fields, None)
            else:
                order, starts, sizes, keys = None, [0], [kept], [()]
            codes = resp._Codes(snap, keep, order)
            return [
                resp.Answers(key=key, n=n, published=True, values=resp._Values(codes, s, s + n))
                for key, s, n in zip(keys, starts, sizes, strict=True)
            ]

        setattr(resp, "from_snap", from_snap)  # noqa: B010
    return resp, rel


def before(resp: ModuleType, rel: ModuleType, snap: Snap) -> list[dict[str, Any]]:
    """The per-group loop of ``reliability.reliability`` as it was at that commit."""
    multi = {d: keys for d, keys in DIMS.items() if len(keys) >= 2}
    composite = list(DIMS)
    found = []
    for g in _groups(resp, snap):
        out: dict[str, Any] = {}
        for d, keys in multi.items():
            items = np.column_stack([g.values[k] for k in keys])
            out[d] = rel._alpha_row(items, FLOOR)
        scores = {d: rel._scores(g.values, DIMS[d], QUESTIONS) for d in composite}
        for i, a in enumerate(composite):
            for b in composite[i + 1 :]:
                out[f"{a}~{b}"] = rel._corr_row(scores[a], scores[b], FLOOR)
        found.append(out)
    return found


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--tail", type=int, default=4_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--before", metavar="COMMIT", help="run that commit's code instead")
    ap.add_argument("--chunk", type=int, help="respondents per chunk (default: the module's)")
    ap.add_argument("--units", type=int, default=0, help="per unit, over that many units")
    args = ap.parse_args()
    global BY_UNIT
    BY_UNIT = args.units > 0
    if args.chunk:
        reliability.CHUNK = args.chunk
    if args.before:
        resp, rel = before_code(args.before)

        def run(snap: Snap) -> list[dict[str, Any]]:
            return before(resp, rel, snap)
    else:
        run = after
    snap = synth(args.rows, args.tail, args.units)
    code = args.before or f"working tree, chunks of {reliability.CHUNK:,}"
    where = f"per unit ({args.units} units)" if BY_UNIT else "district-wide"
    print(f"rows {args.rows:,} (tail {args.tail:,}), {where}, code: {code}")
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM back to the current size
    rss0 = _status("VmRSS")
    tracemalloc.start()
    start = tracemalloc.get_traced_memory()[0]
    result = run(snap)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    hwm = _status("VmHWM")
    print(f"peak numpy/python allocations above the start: {(peak - start) / 2**20:.1f} MB")
    print(f"peak RSS above the start: {(hwm - rss0) / 2**20:.1f} MB (start {rss0 / 2**20:.0f} MB)")
    times = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        run(snap)
        times.append(time.perf_counter() - t0)
    print(f"time: median {statistics.median(times):.2f} s of {[round(t, 2) for t in times]}")
    digest = hashlib.sha256(repr(result).encode()).hexdigest()[:16]
    print(f"{len(result)} groups, digest of every row {digest}; the first group:")
    for name, row in result[0].items():
        print(f"  {name}: {row}")


if __name__ == "__main__":
    main()
