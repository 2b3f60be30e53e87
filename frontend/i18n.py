"""The language of a request; the messages themselves come from ``service.i18n``."""

from __future__ import annotations

from fastapi import Request

from service.i18n import LANGUAGES, translate

__all__ = ["LANGUAGES", "request_language", "translate"]


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
