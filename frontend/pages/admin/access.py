"""Who may open the console: the one dependency every console page takes.

An admin gets the page; an evaluator or deputy the 403 page (raised as ``Forbidden``, which the
app's error handlers render); an anonymous visitor is sent to the login page and back.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute

from frontend.i18n import request_language
from service.auth import OptionalUser
from service.errors import Forbidden
from service.models import Role, User


class LoginRequired(Exception):
    """Raised by the console's dependency for an anonymous visitor; answered with a redirect."""

    def __init__(self, target: str) -> None:
        super().__init__(target)
        self.target = target


class ConsoleRoute(APIRoute):
    """A route that answers ``LoginRequired`` with a redirect to the login page.

    A dependency cannot return a response itself, and the app-wide error handlers speak only
    in statuses, so the console's routes turn this one exception into the 303 here."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def console_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired as exc:
                return RedirectResponse(exc.target, status_code=303)

        return console_handler


def console_admin(request: Request, user: OptionalUser) -> User:
    """The signed-in admin, else a redirect to the login page (anonymous) or the 403 page."""
    if user is None:
        lang = request_language(request)
        # After a refused write the form's own page is the place to come back to.
        target = request.url.path if request.method == "GET" else "/admin"
        raise LoginRequired("/login?" + urlencode({"next": target, "lang": lang}))
    # An error page (403 here, or a 404 or 409 raised later) is drawn after the request's
    # session has rolled back, which expires the account: the header reads a detached copy.
    request.state.user = User(**user.model_dump(warnings=False))
    if user.role != Role.admin:
        raise Forbidden("This page needs the role: admin")
    return user


ConsoleAdmin = Annotated[User, Depends(console_admin)]


def console_organisation(request: Request, user: OptionalUser) -> User:
    """The signed-in organisation department (组织部) or admin, else the login page or 403.

    Personnel assessments are theirs: the console's other pages stay the admin's."""
    if user is not None and user.role == Role.organisation:
        request.state.user = User(**user.model_dump(warnings=False))
        return user
    return console_admin(request, user)


ConsoleOrganisation = Annotated[User, Depends(console_organisation)]
