"""Translations: every ``locales/*.json`` file holds ``{"zh-CN": {...}, "en": {...}}``."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from fastapi import Request

LANGUAGES = ("zh-CN", "en")
LOCALES = Path(__file__).with_name("locales")


@lru_cache
def catalog() -> dict[str, dict[str, str]]:
    """All messages by language, merged from the per-domain locale files."""
    merged: dict[str, dict[str, str]] = {lang: {} for lang in LANGUAGES}
    for path in sorted(LOCALES.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        for lang in LANGUAGES:
            merged[lang].update(data.get(lang, {}))
    return merged


def translate(lang: str, key: str, **params: object) -> str:
    """The message for key in lang (falling back to zh-CN, then the key itself)."""
    cat = catalog()
    text = cat.get(lang, {}).get(key) or cat["zh-CN"].get(key) or key
    return text.format(**params) if params else text


def request_language(request: Request) -> str:
    """?lang= wins, then the lang cookie, then Accept-Language, then the configured default."""
    lang = request.query_params.get("lang") or request.cookies.get("lang")
    if lang in LANGUAGES:
        return lang
    accept = request.headers.get("accept-language", "").lower()
    if accept.startswith("en"):
        return "en"
    default: str = request.app.state.settings.default_language
    return default
