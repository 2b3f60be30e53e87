"""Cells safe for a spreadsheet: text that Excel or LibreOffice would run as a formula (starting
with = + - @, a tab or a carriage return) gets a leading apostrophe. Every download of user text
(response exports, dashboard tables) goes through ``neutralise``."""

from __future__ import annotations

from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula, made inert; anything else unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value
