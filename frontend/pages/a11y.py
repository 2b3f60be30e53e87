"""The larger-text, higher-contrast reading mode for older residents.

The choice lives in the `text_size` cookie ("large" or "standard") so every page is rendered
in the chosen size from the first paint (base.html reads it); static/js/a11y.js toggles it in
place and keeps a copy in localStorage. This route is the same toggle for browsers without
JavaScript: the header's link comes here, the cookie is set and the reader goes back.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from frontend.pages.auth import safe_next

router = APIRouter(include_in_schema=False)

TEXT_SIZE_COOKIE = "text_size"
TEXT_SIZES = ("large", "standard")


@router.get("/text-size")
def update_text_size(request: Request, size: str = "large", next: str = "/") -> RedirectResponse:
    """Remember the reading size in a cookie and go back to the page the reader was on."""
    response = RedirectResponse(safe_next(next), status_code=303)
    chosen = size if size in TEXT_SIZES else "standard"
    # "standard" is stored rather than the cookie deleted: it must win over a "large" that
    # the JavaScript toggle left in localStorage earlier.
    response.set_cookie(
        TEXT_SIZE_COOKIE,
        chosen,
        max_age=365 * 86400,
        samesite="lax",
        secure=request.app.state.settings.secure_cookies,
    )
    return response
