"""Variable names and value codes for the SPSS and Stata exports.

Column names of the export are question keys and fixed names; SPSS and Stata each have their
own rules for variable names, so every column gets a name per format, chosen deterministically
(the same questionnaire always gives the same names) and kept in the codebook. Choices are
written as numbers with value labels (Stata labels only numbers): the code of an option is its
1-based position in the question's options, also kept in the codebook.
"""

from __future__ import annotations

import re
from typing import Any

# Stata: at most 32 characters, [A-Za-z_][A-Za-z0-9_]*; we keep 28, because pyreadstat names
# each value label set after its variable plus a counter and Stata holds those to 32 too.
# SPSS: at most 64 bytes, a letter first; SPSS ignores case, so uniqueness ignores it in both.
LIMITS = {"sav": 64, "dta": 28}
_RESERVED = {
    "sav": {"all", "and", "by", "eq", "ge", "gt", "le", "lt", "ne", "not", "or", "to", "with"},
    "dta": {
        "_all", "_b", "byte", "_coef", "_cons", "double", "float", "if", "in", "int", "long",
        "_n", "_pi", "_pred", "_rc", "_skip", "strl", "using", "with",
    },
}  # fmt: skip
_BAD = re.compile(r"[^A-Za-z0-9_]+")


def _base(column: str, position: int, fmt: str) -> str:
    """A valid (not yet unique) name: ASCII letters, digits and underscores, a letter first."""
    name = _BAD.sub("_", column).strip("_")
    if not name:
        return f"v{position}"  # nothing ASCII to keep (e.g. a key in Chinese): name by position
    if not name[0].isalpha():
        name = "v" + name
    low = name.lower()
    if low in _RESERVED[fmt] or (fmt == "dta" and re.fullmatch(r"str\d+", low)):
        name = "v_" + name
    return name[: LIMITS[fmt]]


def variable_names(columns: list[str], fmt: str) -> list[str]:
    """One valid, unique name per column for ``fmt`` ("sav" or "dta"), in column order.

    A name taken by an earlier column gets ``_2``, ``_3``... (cut short to stay in the limit).
    """
    limit = LIMITS[fmt]
    taken: set[str] = set()
    out = []
    for position, column in enumerate(columns, start=1):
        base = _base(column, position, fmt)
        name, n = base, 1
        while name.lower() in taken:
            n += 1
            suffix = f"_{n}"
            name = base[: limit - len(suffix)] + suffix
        taken.add(name.lower())
        out.append(name)
    return out


def choice_codes(options: list[dict[str, Any]] | None) -> dict[str, int]:
    """Option value -> its numeric code in SPSS and Stata (1-based position)."""
    return {str(o["value"]): i for i, o in enumerate(options or [], start=1)}


def annotate(book: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add each column's SPSS and Stata variable names to a codebook (in place; returned)."""
    cols = [row["column"] for row in book]
    for fmt in LIMITS:
        for row, name in zip(book, variable_names(cols, fmt), strict=True):
            row[f"name_{fmt}"] = name
    return book
