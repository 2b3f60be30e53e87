"""Post-stratification weights: raking of the respondents' cells to population margins,
trimmed at a stated cap, with warnings when the weights cost much precision or do not fit."""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlmodel import Session

from analytics.indicators import lookups
from service.db import stored_id
from service.errors import Invalid
from service.i18n import LANGUAGES, translate
from surveys.forms.models import Campaign

# No weight may exceed this multiple of the mean weight (the raked weights average 1). Caps of
# 3-6 are the usual practice (docs/methodology.md §5); beyond 5 one respondent speaks for more
# than five, and the variance the weight adds outweighs the bias it removes.
TRIM_CAP = 5.0
# Trim-and-rake rounds before giving up. Where the margins can be met under the cap, the
# excess over it shrinks by a steady factor each round (about 0.75 on the demo's margins) and
# the loop stops once it is under CAP_TOL; where they cannot, raking puts the excess back
# and the loop stops as soon as a round removes less than 1% of it.
TRIM_ROUNDS = 100
CAP_TOL = 1e-6
# Below this share of the respondents, the effective sample size is worth a warning.
N_EFF_WARN_SHARE = 0.5


def rake(
    cells: list[tuple[int, str, str]],
    counts: np.ndarray,
    margins: dict[str, dict[Any, float]],
    *,
    max_iter: int = 500,
    tol: float = 1e-10,
    start: np.ndarray | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Raking (iterative proportional fitting) of cell weights to one-way population margins.

    ``cells`` are (area_id, age_band, sex) with ``counts`` respondents each; ``margins`` map a
    field to {category: population share}. Cells outside the margins keep weight 1. Returns a
    weight per respondent of each cell (mean 1 over raked respondents) and a report. ``start``
    are the weights to rake from (ones by default; the trimmed weights when re-raking).
    """
    fields = [f for f in ("area", "age_band", "sex") if margins.get(f)]
    pos = {"area": 0, "age_band": 1, "sex": 2}
    counts = counts.astype(float)
    inside = (
        np.array([all(c[pos[f]] in margins[f] for f in fields) for c in cells], dtype=bool)
        if cells
        else np.zeros(0, dtype=bool)
    )
    w = np.ones(len(cells)) if start is None else np.array(start, dtype=float)
    total = counts[inside].sum()
    report: dict[str, Any] = {"fields": fields, "iterations": 0, "converged": True, "dropped": {}}
    if not fields or total <= 0:
        return w, report
    targets: dict[str, dict[Any, float]] = {}
    for f in fields:
        present = {c[pos[f]] for c, ok in zip(cells, inside, strict=True) if ok}
        shares = {k: float(v) for k, v in margins[f].items() if k in present and float(v) > 0}
        missing = sorted(str(k) for k in margins[f] if k not in shares)
        if missing:
            report["dropped"][f] = missing
        s = sum(shares.values())
        targets[f] = {k: v / s * total for k, v in shares.items()}
    member = {f: np.array([c[pos[f]] for c in cells], dtype=object) for f in fields}
    converged = False
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007
        worst = 0.0
        for f in fields:
            for cat, target in targets[f].items():
                sel = inside & (member[f] == cat)
                cur = float((w[sel] * counts[sel]).sum())
                if cur <= 0:
                    continue
                ratio = target / cur
                worst = max(worst, abs(ratio - 1.0))
                w[sel] *= ratio
        if worst < tol:
            converged = True
            break
    report["iterations"] = it
    report["converged"] = converged
    return w, report


def trim_and_rake(
    cells: list[tuple[int, str, str]],
    counts: np.ndarray,
    margins: dict[str, dict[Any, float]],
    *,
    cap: float = TRIM_CAP,
    rounds: int = TRIM_ROUNDS,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Raking weights trimmed at ``cap`` (times the mean raked weight, 1), then raked again,
    in turn until raking leaves no weight above the cap (by more than ``CAP_TOL``: stable),
    a round no longer helps, or ``rounds`` re-rakings were done.

    The weights returned never exceed the cap. When the margins cannot be met under it (the
    last raking had to be trimmed again), the report says ``converged: false``. The report's
    ``trimming`` gives the cap, the rounds and which cells were trimmed (``trimmed``, a mask
    for the caller to name by category: the cells themselves may hold fewer than k)."""
    w, report = rake(cells, counts, margins)
    trimmed = np.zeros(len(cells), dtype=bool)
    done = 0
    stable = True
    before = np.inf
    while len(w):
        excess = float(w.max()) / cap - 1
        if excess <= CAP_TOL:
            w = np.minimum(w, cap)
            break
        trimmed |= w > cap
        w = np.minimum(w, cap)
        if done == rounds or excess > 0.99 * before:
            stable = False
            break
        before = excess
        done += 1
        w, again = rake(cells, counts, margins, start=w)
        report["iterations"] += again["iterations"]
        report["converged"] = again["converged"]
    report["converged"] = bool(report["converged"] and stable)
    report["trimming"] = {
        "cap": cap,
        "applied": bool(trimmed.any()),
        "rounds": done,
        "stable": stable,
        "trimmed": trimmed,
    }
    return w, report


def _text(key: str, **params: Any) -> dict[str, str]:
    return {lang: translate(lang, key, **params) for lang in LANGUAGES}


def with_usage(report: dict[str, Any], used: dict[str, Any]) -> dict[str, Any]:
    """The weighting report with the summary of the weights as used (``cube.counts``: their
    number, effective number and range after the averaging within disclosure blocks) and the
    warnings it calls for: ``n_eff_low`` (fewer than half the respondents' worth),
    ``not_converged`` (the margins are not met) and ``trimmed`` (weights were capped), each
    with its text in every language of the catalogue."""
    out = {**report, **used}
    warnings: list[dict[str, Any]] = []
    n, n_eff = int(out.get("n") or 0), out.get("n_eff")
    if n and n_eff is not None and n_eff < N_EFF_WARN_SHARE * n:
        warnings.append(
            {
                "code": "n_eff_low",
                "text": _text("weighting.warn.n_eff_low", n_eff=f"{n_eff:.0f}", n=n),
            }
        )
    if not out.get("converged", True):
        warnings.append(
            {
                "code": "not_converged",
                "text": _text("weighting.warn.not_converged", iterations=out.get("iterations")),
            }
        )
    trim = out.get("trimming") or {}
    if trim.get("applied"):
        cats = "; ".join(f"{f}: {', '.join(v)}" for f, v in (trim.get("categories") or {}).items())
        warnings.append(
            {
                "code": "trimmed",
                "text": _text("weighting.warn.trimmed", cap=f"{trim['cap']:g}", categories=cats),
            }
        )
    out["warnings"] = warnings
    return out


# The category that stands for every category too small to weight on by itself.
POOLED = {"area": -1, "age_band": "*", "sex": "*"}


def cell_weights(
    session: Session, campaign: Campaign, include_flagged: bool, k: int
) -> tuple[dict[tuple[int, str, str], float], dict[str, Any]]:
    """Raking weights per (area, age band, sex) cell, from the campaign's respondents.

    Raking on a category of a handful of respondents would publish their number through the
    weights, so a margin's categories with fewer than ``k`` respondents are pooled into one
    category (their population shares added) before raking. The weights are then averaged
    within each disclosure block where the counts are taken (``cube.counts``), so a weighted
    figure is a fixed combination of block totals like every other
    (``analytics.indicators.disclosure``).
    """
    margins = dict(campaign.margins or {})
    if not margins:
        raise Invalid.field(
            ("query", "weighted"), "this campaign has no population margins to weight to"
        )
    cid = stored_id(campaign)
    rows = lookups.cell_counts(session, campaign_id=cid, include_flagged=include_flagged)
    area_margin = margins.get("area") or {}
    codes = lookups.unit_ids(session, area_margin)
    by_id = {codes[k]: v for k, v in area_margin.items() if k in codes}
    norm: dict[str, dict[Any, float]] = {
        "area": by_id,
        "age_band": margins.get("age_band") or {},
        "sex": margins.get("sex") or {},
    }
    pos = {"area": 0, "age_band": 1, "sex": 2}
    cells = [(r[0], r[1], r[2]) for r in rows]
    coarse: list[list[Any]] = [list(c) for c in cells]
    pooled: dict[str, list[str]] = {}
    for f, shares in norm.items():
        if not shares:
            continue
        per: dict[Any, int] = {}
        for r in rows:
            per[r[pos[f]]] = per.get(r[pos[f]], 0) + int(r[3])
        whole = {cat for cat, n in per.items() if n >= k}
        small = sorted((cat for cat in per if cat not in whole), key=str)
        if not small:
            continue
        # The pooled category must hold k respondents too: else the smallest of the others
        # join it (as one neighbour is suppressed along with a small cell).
        for cat in sorted(whole, key=lambda c: (per[c], str(c))):
            if sum(per[c] for c in small) >= k:
                break
            small.append(cat)
            whole.discard(cat)
        for c in coarse:
            if c[pos[f]] not in whole:
                c[pos[f]] = POOLED[f]
        rest = {cat: v for cat, v in shares.items() if cat in whole}
        extra = sum(float(v) for cat, v in shares.items() if cat not in whole)
        norm[f] = {**rest, POOLED[f]: extra} if extra > 0 else rest
        names: dict[Any, str] = {v: c for c, v in codes.items()} if f == "area" else {}
        pooled[f] = [str(names.get(cat, cat)) for cat in small]
    counts = np.array([r[3] for r in rows], dtype=float)
    w, report = trim_and_rake([(c[0], c[1], c[2]) for c in coarse], counts, norm)
    report["pooled"] = pooled
    # Trimming is reported by the margin categories it touched (each holds at least k
    # respondents, or is the pooled one), never by cell or count.
    mask = report["trimming"].pop("trimmed")
    area_code = {v: c for c, v in codes.items()}
    touched: dict[str, list[str]] = {}
    for f in ("area", "age_band", "sex"):
        seen = {c[pos[f]] for c, hit in zip(coarse, mask, strict=True) if hit}
        label = {POOLED[f]: "*"} | (area_code if f == "area" else {})
        if seen and norm.get(f):
            touched[f] = sorted(str(label.get(x, x)) for x in seen)
    report["trimming"]["categories"] = touched
    # The number, effective number and range of the weights, and the warnings that depend on
    # them, are added over the weights as used (``with_usage`` on ``cube.counts``' summary):
    # the raking weights themselves would tell the size of each weighting class.
    if "area" in report.get("dropped", {}):
        report["dropped"]["area"] = sorted(
            str(k) for k in area_margin if k not in codes or codes[k] in report["dropped"]["area"]
        )
    return {cell: float(x) for cell, x in zip(cells, w, strict=True)}, report
