"""Cells safe for a spreadsheet: text that Excel or LibreOffice would run as a formula (starting
with = + - @, a tab or a carriage return) gets a leading apostrophe. Every spreadsheet or CSV the
product writes with user text (response exports and their codebook, dashboard tables, the
XLSForm questionnaire) goes through ``neutralise``; this is the one rule."""

from __future__ import annotations

from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula, made inert; anything else unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def restore(value: Any) -> Any:
    """The inverse of ``neutralise``, for reading back a workbook the product wrote."""
    if isinstance(value, str) and value.startswith("'") and value[1:].startswith(FORMULA_START):
        return value[1:]
    return value
