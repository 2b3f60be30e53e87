"""The flexible views' counting in one process, before and after keeping the generation's part.

Synthesizes ``--rows`` responses (the shape of ``analytics_bench.py``: 100 units, 40 areas, 90
days, 6 age bands, 2 sexes, 5 questions) straight into a generation of column files
(``cube_files.write``, then mapped), with no database, and times ``cube.counts`` and
``cube.groups`` for several groupings, cold (nothing kept) and warm (the same view again),
with and without a tail of ``--tail`` newer responses. "before" is the committed
implementation named by ``--before`` (read with ``git show``), "after" the working tree's;
the two alternate case by case in one run. Peak memory of each call is what numpy allocated
(tracemalloc, one extra call per case). Usage::

    .venv/bin/python bench/cube_counts.py --rows 3000000 --tail 4000 --runs 3

``--memory`` instead serves every view once in one process (the working tree's code, cold then
with the tail) and prints, after each, what stays: the bytes numpy still holds (tracemalloc),
the kept state by kind (``cube_query``'s memo) and the process's RSS and anonymous memory
(``/proc/self/smaps_rollup``, after ``malloc_trim`` as the app's trimmer would).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analytics.indicators import cube, cube_files  # noqa: E402
from analytics.indicators.queries import Filters  # noqa: E402

KEYS = ["q1", "q2", "q3", "q4", "nps"]
AGES = ["18-29", "30-44", "45-59", "60+", "16-17", "unknown"]
SEXES = ["female", "male"]
DAY0 = 20_400


def _old(commit: str) -> ModuleType:
    src = subprocess.run(
        ["git", "show", f"{commit}:analytics/indicators/cube.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "cube_before.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("cube_before", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["cube_before"] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def _raw(n: int, seed: int, first_id: int) -> tuple[list[tuple[Any, ...]], np.ndarray]:
    rng = np.random.default_rng(seed)
    unit = rng.integers(1, 101, n)
    area = 1000 + rng.integers(0, 40, n)
    age = rng.integers(0, len(AGES), n)
    sex = rng.integers(0, 2, n)
    day = DAY0 + rng.integers(0, 90, n)
    flagged = rng.random(n) < 0.02
    rows = list(
        zip(
            range(first_id, first_id + n),
            unit.tolist(),
            area.tolist(),
            [AGES[i] for i in age.tolist()],
            [SEXES[i] for i in sex.tolist()],
            day.tolist(),
            flagged.tolist(),
            strict=True,
        )
    )
    values = np.full((len(KEYS), n), np.nan)
    for j in range(len(KEYS)):
        top = 10 if KEYS[j] == "nps" else 5
        lo = 0 if top == 10 else 1
        v = rng.integers(lo, top + 1, n).astype(float)
        v[rng.random(n) < 0.1] = np.nan
        values[j] = v
    return rows, values


def _generation(rows: int, where: Path) -> cube_files.Generation:
    """The first ``rows`` responses as a mapped generation (appended in pieces of 500,000)."""
    c = cube._Cube(keys=KEYS)
    step = 500_000
    for s in range(0, rows, step):
        r, v = _raw(min(step, rows - s), seed=s, first_id=s + 1)
        c.append(r, v)
    n = c.size
    cube_files.write(
        where,
        watermark=c.watermark,
        keys=KEYS,
        tables={name: list(t.values) for name, t in c.tables.items()},
        cols={k: v[:n] for k, v in c.cols.items()},
        answers={k: v[:n] for k, v in c.answers.items()},
    )
    gen = cube_files.open_newest(where)
    assert gen is not None
    return gen


def _weights() -> dict[tuple[int, str, str], float]:
    rng = np.random.default_rng(1)
    return {
        (1000 + a, g, s): float(rng.uniform(0.5, 2)) for a in range(40) for g in AGES for s in SEXES
    }


VIEWS: list[tuple[str, str, dict[str, Any]]] = [
    ("counts", "unit", {"fields": ["unit"], "period": None}),
    ("counts", "age_band,sex", {"fields": ["age_band", "sex"], "period": None}),
    ("counts", "unit,month", {"fields": ["unit", "period"], "period": "month"}),
    ("counts", "unit,week", {"fields": ["unit", "period"], "period": "week"}),
    ("counts", "unit weighted", {"fields": ["unit"], "period": None, "weighted": True}),
    ("groups", "unit,month", {"fields": ["unit", "period"], "period": "month"}),
    ("groups", "area", {"fields": ["area"], "period": None}),
    ("groups", "unit,week", {"fields": ["unit", "period"], "period": "week"}),
]


def _call(mod: ModuleType, kind: str, kw: dict[str, Any], weights: Any) -> Any:
    args: dict[str, Any] = {
        "campaign_id": 1,
        "fields": kw["fields"],
        "period": kw["period"],
        "include_flagged": False,
        "filters": Filters(),
        "k": 10,
    }
    if kind == "counts":
        args["weights"] = weights if kw.get("weighted") else None
        return mod.counts(None, **args)
    return mod.groups(None, **args)


def _fresh(mod: ModuleType, gen: cube_files.Generation, tail: int) -> Any:
    c = mod._Cube(keys=KEYS)
    c.adopt(gen)
    if tail:
        r, v = _raw(tail, seed=99, first_id=gen.watermark + 1)
        c.append(r, v)
    mod.refresh = lambda session, campaign_id, **_: c  # no database: the cube as it stands
    return c


def _proc() -> str:
    """VmRSS/VmHWM and anonymous/file PSS of this process, in MB (Linux only)."""
    out = {}
    for name in ("/proc/self/status", "/proc/self/smaps_rollup"):
        try:
            text = Path(name).read_text()
        except OSError:
            continue
        for line in text.splitlines():
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "Pss_Anon", "Pss_File", "Anonymous"):
                out[k] = int(v.split()[0]) // 1024
    return " ".join(f"{k} {v}" for k, v in out.items())


def _kept() -> str:
    """The kept state by kind: entries and MB."""
    from analytics.indicators import cube_memo

    memo = cube_memo.MEMO
    by: dict[str, list[int]] = {}
    with memo.lock:
        for key, nb in memo.sizes.items():
            kind = "/".join(str(x) for x in key[1:3])  # type: ignore[index]
            e = by.setdefault(kind, [0, 0])
            e[0] += 1
            e[1] += nb
    parts = [f"{k} {n}/{nb / 2**20:.1f}" for k, (n, nb) in sorted(by.items())]
    return f"kept {memo.total / 2**20:.1f} MB [" + ", ".join(parts) + "]"


def memory(rows: int, tail: int) -> None:
    """Every view once, cold then with a tail, in one process: what stays after each."""
    from service.memory import give_back

    print(f"rows={rows:,} tail={tail:,} memory; load {os.getloadavg()}; start {_proc()}")
    with tempfile.TemporaryDirectory() as tmp:
        gen = _generation(rows, Path(tmp))
        give_back()
        print(f"generation mapped: {_proc()}", flush=True)
        weights = _weights()
        c = _fresh(cube, gen, 0)
        tracemalloc.start()
        next_id = gen.watermark + 1
        for step in ("cold", "tail", "tail+25"):
            if step != "cold":
                r, v = _raw(tail if step == "tail" else 25, seed=7 + len(step), first_id=next_id)
                next_id += len(r)
                c.append(r, v)
            for kind, name, kw in VIEWS:
                tracemalloc.reset_peak()
                t = time.perf_counter()
                _call(cube, kind, kw, weights)
                ms = (time.perf_counter() - t) * 1000
                now, peak = (x / 2**20 for x in tracemalloc.get_traced_memory())
                give_back()
                print(
                    f"{step} {kind} {name}: {ms:.0f} ms, numpy held {now:.0f} MB (peak {peak:.0f});"
                    f" {_kept()}; {_proc()}",
                    flush=True,
                )
        tracemalloc.stop()
    print(f"load {os.getloadavg()}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=3_000_000)
    ap.add_argument("--tail", type=int, default=4_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--before", default="HEAD")
    ap.add_argument("--memory", action="store_true", help="what stays after each view")
    a = ap.parse_args()
    if a.memory:
        memory(a.rows, a.tail)
        return
    before, after = _old(a.before), cube
    print(
        f"rows={a.rows:,} tail={a.tail:,} runs={a.runs} before={a.before}; load {os.getloadavg()}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        gen = _generation(a.rows, Path(tmp))
        print(f"generation written and mapped in {time.perf_counter() - t0:.1f} s", flush=True)
        weights = _weights()
        print(
            "view | tail | impl | cold ms | warm ms, same rows | warm ms, 25 more rows each"
            " | peak MB cold / warm"
        )
        next_id = [gen.watermark + a.tail + 1]
        for tail in (0, a.tail):
            for kind, name, kw in VIEWS:
                for label, mod in (("before", before), ("after", after)):
                    c = _fresh(mod, gen, tail)
                    tracemalloc.start()
                    t = time.perf_counter()
                    _call(mod, kind, kw, weights)
                    cold = (time.perf_counter() - t) * 1000
                    cold_peak = tracemalloc.get_traced_memory()[1] / 2**20
                    tracemalloc.stop()
                    same, grown = [], []
                    for _ in range(a.runs):
                        t = time.perf_counter()
                        _call(mod, kind, kw, weights)
                        same.append((time.perf_counter() - t) * 1000)
                    for i in range(a.runs):
                        r, v = _raw(25, seed=1000 + i, first_id=next_id[0])
                        next_id[0] += 25
                        c.append(r, v)
                        t = time.perf_counter()
                        _call(mod, kind, kw, weights)
                        grown.append((time.perf_counter() - t) * 1000)
                    tracemalloc.start()
                    _call(mod, kind, kw, weights)
                    peak = tracemalloc.get_traced_memory()[1] / 2**20
                    tracemalloc.stop()
                    print(
                        f"{kind} {name} | {tail} | {label} | {cold:.0f} | "
                        f"{float(np.median(same)):.0f} | {float(np.median(grown)):.0f} | "
                        f"{cold_peak:.0f} / {peak:.0f}",
                        flush=True,
                    )
    print(f"load {os.getloadavg()}")


if __name__ == "__main__":
    main()
