"""Report columns of the method diagnostics: reliability and the composite's sensitivity."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from analytics import figures

# The report's tables of the two views (key, label key), for ``document.SECTIONS``.
RELIABILITY_COLUMNS = [
    ("dimension", "dimension"),
    ("alpha", "alpha"),
    ("alpha_interval", "interval"),
    ("r", "correlation"),
    ("n", "n"),
]
SENSITIVITY_COLUMNS = [
    ("unit", "unit"),
    ("base_rank", "sens_base"),
    ("rank_span", "rank"),
    ("median_shift", "sens_shift"),
    ("max_shift", "sens_shift"),
]


def _num(v: Any, digits: int) -> str:
    x = figures.num(v)
    return "" if x is None else f"{x:.{digits}f}"


def diagnostic_cells(
    row: Mapping[str, Any], lang: str, dimensions: Mapping[str, str]
) -> dict[str, str]:
    """Display text of a reliability or sensitivity row's columns (none for other rows);
    withheld figures show the word for hidden, never a value."""
    hidden = figures.label(lang, "suppressed")
    kind = row.get("kind")
    if kind in ("alpha", "correlation"):
        out: dict[str, str] = {"alpha": "", "alpha_interval": "", "r": ""}
        if kind == "correlation":
            a, b = (str(row.get(k) or "") for k in ("dimension_a", "dimension_b"))
            out["dimension"] = f"{dimensions.get(a, a)} × {dimensions.get(b, b)}"
        if row.get("suppressed") or row.get("too_few"):
            out["alpha" if kind == "alpha" else "r"] = hidden
            return out
        if kind == "alpha":
            out["alpha"] = _num(row.get("alpha"), 2)
            lo, hi = _num(row.get("alpha_ci_low"), 2), _num(row.get("alpha_ci_high"), 2)
            out["alpha_interval"] = f"{lo} – {hi}" if lo and hi else ""
        else:
            out["r"] = _num(row.get("r"), 2)
        return out
    ranks = row.get("ranks")
    if "base_rank" in row or (row.get("suppressed") and "unit_code" in row and ranks is None):
        if not isinstance(ranks, Mapping) or row.get("suppressed"):
            return {"base_rank": hidden, "rank_span": "", "median_shift": "", "max_shift": ""}
        values = [int(v) for v in ranks.values() if figures.num(v) is not None]
        return {
            "base_rank": str(row.get("base_rank") or ""),
            "rank_span": f"{min(values)}–{max(values)}" if values else "",
            "median_shift": _num(row.get("median_shift"), 1),
            "max_shift": str(row.get("max_shift") if row.get("max_shift") is not None else ""),
        }
    return {}
