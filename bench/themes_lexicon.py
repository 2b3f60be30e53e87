"""The comment themes' word splitter: memory and time with jieba's dictionary as Python dicts
(before) and as mapped lexicon files (after, ``analytics/comments/lexicon.py``), and whether
the two give the same words.

Usage (from the repository root):

    .venv/bin/python bench/themes_lexicon.py [--comments 1000] [--runs 3] [--no-check]

Reads the review corpus in ``../shared/data/zh_sentiment/`` (both CSV files). Each
measurement runs in a fresh process of its own:

- ``build``: the lexicon files built into an empty directory (what the first themes
  computation on a machine pays, once);
- ``before``: a splitter holding jieba's dictionary with the domain words and the IDF table as
  dicts (the code before the lexicon files; ``tests/plain_splitter.py``'s ``Plain`` is it,
  step for step);
- ``after``: the splitter of ``analytics/comments/themes.py`` on the built files.

Each process reads the corpus, then loads its splitter and computes the themes' words of a
seeded sample of ``--comments`` reviews as ``theme_rows`` does (keywords of all of them joined,
the tokens of each), ``--runs`` times; it reports the load and compute times and its memory
from ``/proc/self/smaps_rollup`` (after ``gc.collect`` and ``malloc_trim``) before loading and while the splitter
is held: RSS (and the process's peak RSS), the anonymous pages (the process's own heap), the resident pages of mapped files
and their PSS (shared with every other process that maps them); for ``after``, also once a
second process maps the lexicon files and reads every page (as a second worker would).

The check (skip with ``--no-check``) compares, in this process, for every review of the corpus:
the tokens (``lcut``) and keywords with their weights (``_keywords``, top 20) of each review
alone and within its batch of ``--comments``, the keywords of each batch joined, and
``theme_rows`` of each batch (labels from the corpus), between ``Plain`` and the lexicon.
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CORPUS = ROOT.parent / "shared" / "data" / "zh_sentiment"


def corpus() -> list[tuple[str, str | None]]:
    """(review, label) of every review of both files, label positive or negative."""
    out: list[tuple[str, str | None]] = []
    for name in ("waimai_10k.csv", "ChnSentiCorp_htl_all.csv"):
        with open(CORPUS / name, encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                text = row["review"] or ""
                out.append((text, "positive" if row["label"] == "1" else "negative"))
    return out


def memory() -> dict[str, float]:
    """MB from smaps_rollup, after a garbage collection and giving free pages back as the
    app's trimmer does: what is held, not what is waiting to be collected."""
    from service.memory import give_back

    gc.collect()
    give_back()
    fields = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":")
        fields[name] = int(value.split()[0]) / 1024
    # The lexicon files' own mappings, from the per-mapping smaps.
    lex_rss = lex_pss = 0.0
    mine = False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()
        if head and not head[0].endswith(":"):
            mine = "/lexicon/" in line and line.endswith(".npy")
        elif mine and head[0] in ("Rss:", "Pss:"):
            if head[0] == "Rss:":
                lex_rss += int(head[1]) / 1024
            else:
                lex_pss += int(head[1]) / 1024
    status = Path("/proc/self/status").read_text()
    peak = next(int(x.split()[1]) for x in status.splitlines() if x.startswith("VmHWM:"))
    return {
        "peak": peak / 1024,
        "rss": fields["Rss"],
        "anon": fields["Anonymous"],
        "file": fields["Rss"] - fields["Anonymous"],
        "pss_file": fields["Pss_File"],
        "lexicon_rss": lex_rss,
        "lexicon_pss": lex_pss,
    }


# A second process mapping the lexicon files and reading every page, as another worker would.
_NEIGHBOUR = """
import sys
from pathlib import Path
import numpy as np
kept = [np.load(f, mmap_mode="r") for f in Path(sys.argv[1]).glob("*.npy")]
for a in kept:
    int(a.view(np.uint8).sum())
print("ready", flush=True)
sys.stdin.read()
"""


def sample(n: int) -> list[tuple[str, str | None]]:
    rows = corpus()
    return random.Random(7).sample(rows, min(n, len(rows)))


def theme_words(splitter: Any, comments: list[tuple[str, str | None]]) -> None:
    """What ``theme_rows`` asks of the splitter for these comments."""
    from analytics.comments import themes

    texts = [t for t, _ in comments]
    words = splitter.over(texts)
    themes._keywords(words, "\n".join(texts), 30)
    for t in texts:
        words.tokens(t)


def child(mode: str, n: int, runs: int) -> dict[str, Any]:
    from analytics.comments import lexicon, themes
    from tests.plain_splitter import Plain

    comments = sample(n)
    out: dict[str, Any] = {"mode": mode}
    if mode == "build":
        t0 = time.perf_counter()
        lexicon.open_lexicon(themes.DOMAIN_WORDS, themes.DOMAIN_FREQ)
        out["build_s"] = time.perf_counter() - t0
        return out
    import jieba  # noqa: F401 - the module is loaded in both, before the baseline

    out["mem_start"] = memory()
    t0 = time.perf_counter()
    splitter: Any = Plain() if mode == "before" else themes._Splitter()
    out["load_s"] = time.perf_counter() - t0
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        theme_words(splitter, comments)
        times.append(time.perf_counter() - t0)
    out["compute_s"] = times
    out["mem_held"] = memory()
    if mode == "after":
        where = str(splitter.lexicon.directory)
        cmd = [sys.executable, "-c", _NEIGHBOUR, where]
        with subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as p:
            assert p.stdout is not None and p.stdin is not None
            p.stdout.readline()
            out["mem_shared"] = memory()
            p.stdin.close()
    return out


def run_child(mode: str, n: int, runs: int, env: dict[str, str]) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", mode, "--comments", str(n), "--runs", str(runs)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout.splitlines()[-1]))


def check(n: int) -> None:
    from analytics.comments import themes
    from tests.plain_splitter import Plain

    rows = corpus()
    plain: Any = Plain()  # in place of the splitter: the same methods
    splitter = themes._Splitter()
    bad = 0
    t0 = time.perf_counter()
    for at in range(0, len(rows), n):
        batch = rows[at : at + n]
        texts = [t for t, _ in batch]
        words = splitter.over(texts)
        joined = "\n".join(texts)
        if themes._keywords(words, joined, 60) != themes._keywords(plain, joined, 60):
            bad += 1
            print(f"batch {at}: keywords of the batch differ")
        for t in texts:
            alone = splitter.over([t])
            want = (plain.tokenizer.lcut(t), themes._keywords(plain, t, 20))
            for got in (words, alone):
                if (got.tokenizer.lcut(t), themes._keywords(got, t, 20)) != want:
                    bad += 1
                    print(f"differs: {t!r}")
        # theme_rows through the module's splitter, once each way.
        themes._splitter = splitter
        new = themes.theme_rows(batch, top=10)
        themes._splitter = plain
        old = themes.theme_rows(batch, top=10)
        themes._splitter = None
        if new != old:
            bad += 1
            print(f"batch {at}: theme_rows differ")
    took = time.perf_counter() - t0
    print(f"check: {len(rows)} reviews in batches of {n}, {bad} differences ({took:.1f} s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--comments", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-check", action="store_true")
    ap.add_argument("--child", choices=("build", "before", "after"))
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.comments, args.runs)))
        return
    with tempfile.TemporaryDirectory(prefix="themes-lexicon-") as where:
        env = {**os.environ, "MINYI_ANALYTICS_DIR": where}
        os.environ["MINYI_ANALYTICS_DIR"] = where
        results = [run_child(m, args.comments, args.runs, env) for m in ("build", "before")]
        os.sync()  # the files' pages written out, clean as a worker finds them later
        results.append(run_child("after", args.comments, args.runs, env))
        print(f"comments {args.comments}, runs {args.runs}, load {os.getloadavg()[0]:.2f}")
        print(f"build: {results[0]['build_s']:.2f} s")
        for r in results[1:]:
            s, h = r["mem_start"], r["mem_held"]
            times = ", ".join(f"{x:.3f}" for x in r["compute_s"])
            print(
                f"{r['mode']:>6}: load {r['load_s']:.3f} s, compute {times} s; "
                f"RSS {s['rss']:.1f} -> {h['rss']:.1f} MB (peak {h['peak']:.1f}), anonymous {s['anon']:.1f} -> "
                f"{h['anon']:.1f}, mapped files {s['file']:.1f} -> {h['file']:.1f}, "
                f"Pss_File {s['pss_file']:.1f} -> {h['pss_file']:.1f}; lexicon files resident "
                f"{h['lexicon_rss']:.1f}, PSS {h['lexicon_pss']:.1f}"
            )
            if "mem_shared" in r:
                m = r["mem_shared"]
                print(
                    f"        with a second process mapping the files: lexicon files resident "
                    f"{m['lexicon_rss']:.1f}, PSS {m['lexicon_pss']:.1f}; Pss_File "
                    f"{m['pss_file']:.1f}, anonymous {m['anon']:.1f}"
                )
        if not args.no_check:
            check(args.comments)


if __name__ == "__main__":
    main()
