"""Translations shared by pages, figures and reports: one catalog merged from every domain's
``<domain>/locales/*.json`` files, each ``{"zh-CN": {...}, "en": {...}}``.

The files are found by path so that this module imports no domain code (imports flow from the
domains to ``service``). Keys are global: a domain prefixes its own (``fig.``, ``report.``)
where a bare word could mean something else elsewhere.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

LANGUAGES = ("zh-CN", "en")
ROOT = Path(__file__).resolve().parent.parent
# The domains that ship message catalogs, in merge order.
DOMAINS = ("surveys", "analytics", "frontend")


def catalog_files() -> list[Path]:
    """Every locale file of every domain."""
    return [
        path for domain in DOMAINS for path in sorted((ROOT / domain / "locales").glob("*.json"))
    ]


@lru_cache
def catalog() -> dict[str, dict[str, str]]:
    """All messages by language, merged from the per-domain locale files."""
    merged: dict[str, dict[str, str]] = {lang: {} for lang in LANGUAGES}
    for path in catalog_files():
        data = json.loads(path.read_text(encoding="utf-8"))
        for lang in LANGUAGES:
            merged[lang].update(data.get(lang, {}))
    return merged


def known(key: str) -> bool:
    """True when some catalog defines key."""
    return any(key in messages for messages in catalog().values())


def translate(lang: str, key: str, **params: object) -> str:
    """The message for key in lang (falling back to zh-CN, then the key itself)."""
    cat = catalog()
    text = cat.get(lang, {}).get(key) or cat["zh-CN"].get(key) or key
    return text.format(**params) if params else text
