"""Small-group protection: primary and secondary cell suppression.

Primary: a cell with fewer than ``k`` respondents is never published with values.
Secondary: in every line of the table (all grouping keys fixed but one, whose cells add up to
a total that another query publishes), the suppressed cells must be at least two and hold at
least ``k`` respondents together; otherwise the smallest published cells of that line are
suppressed too, until no suppressed cell can be recovered by subtracting the others from the
line's total. Lines are revisited until nothing changes, since one suppression can break
another line.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from analytics.indicators.table import Groups

PRIMARY = "primary"
SECONDARY = "secondary"

Key = tuple[Hashable, ...]


def suppress(cells: dict[Key, int], *, k: int, dims: Sequence[int] | None = None) -> dict[Key, str]:
    """Which cells to suppress and why: ``{key: "primary" | "secondary"}``.

    ``cells`` maps a key tuple (one value per grouping field) to its number of respondents;
    ``dims`` are the positions of the key along which lines add up (default: every position).
    """
    out: dict[Key, str] = {key: PRIMARY for key, n in cells.items() if n < k}
    if not out or not cells:
        return out
    width = len(next(iter(cells)))
    positions = list(range(width)) if dims is None else list(dims)
    changed = True
    while changed:
        changed = False
        for pos in positions:
            lines: dict[Key, list[Key]] = defaultdict(list)
            for key in cells:
                lines[key[:pos] + key[pos + 1 :]].append(key)
            for members in lines.values():
                hidden = [m for m in members if m in out]
                if not hidden:
                    continue
                shown = sorted(
                    (m for m in members if m not in out), key=lambda m: (cells[m], repr(m))
                )
                while shown and (len(hidden) < 2 or sum(cells[m] for m in hidden) < k):
                    extra = shown.pop(0)
                    out[extra] = SECONDARY
                    hidden.append(extra)
                    changed = True
    return out


def comments_allowed(n_respondents: int, *, k: int) -> bool:
    """Comments of a group are shown only when the group has at least k respondents."""
    return n_respondents >= k


def table_suppression(t: Groups, k: int) -> dict[tuple[Any, ...], str]:
    """The cells of a table to suppress (see ``suppress``), keyed like the table."""
    cells = {key: int(n) for key, n in zip(t.keys, t.n, strict=True)}
    return suppress(cells, k=k)
