"""Post-stratification weights: raking of the respondents' cells to population margins."""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlmodel import Session

from analytics.indicators import lookups
from service.db import stored_id
from service.errors import Invalid
from surveys.forms.models import Campaign


def rake(
    cells: list[tuple[int, str, str]],
    counts: np.ndarray,
    margins: dict[str, dict[Any, float]],
    *,
    max_iter: int = 500,
    tol: float = 1e-10,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Raking (iterative proportional fitting) of cell weights to one-way population margins.

    ``cells`` are (area_id, age_band, sex) with ``counts`` respondents each; ``margins`` map a
    field to {category: population share}. Cells outside the margins keep weight 1. Returns a
    weight per respondent of each cell (mean 1 over raked respondents) and a report.
    """
    fields = [f for f in ("area", "age_band", "sex") if margins.get(f)]
    pos = {"area": 0, "age_band": 1, "sex": 2}
    counts = counts.astype(float)
    inside = (
        np.array([all(c[pos[f]] in margins[f] for f in fields) for c in cells], dtype=bool)
        if cells
        else np.zeros(0, dtype=bool)
    )
    w = np.ones(len(cells))
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
    w, report = rake([(c[0], c[1], c[2]) for c in coarse], counts, norm)
    report["pooled"] = pooled
    # The number, effective number and range of the weights are added by the counts, over
    # the weights as used (``cube.counts``): the raking weights themselves would tell the
    # size of each weighting class.
    if "area" in report.get("dropped", {}):
        report["dropped"]["area"] = sorted(
            str(k) for k in area_margin if k not in codes or codes[k] in report["dropped"]["area"]
        )
    return {cell: float(x) for cell, x in zip(cells, w, strict=True)}, report
