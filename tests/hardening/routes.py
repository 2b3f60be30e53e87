"""Route introspection: which roles an operation admits, which page forms take posts."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from service.auth import current_user, optional_user
from service.models import Role


def iter_routes(routes: Iterable[Any]) -> Iterator[APIRoute]:
    """Every APIRoute, looking inside included routers (FastAPI mounts them lazily)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from iter_routes(inner.routes)
        elif isinstance(route, APIRoute):
            yield route


def _calls(route: APIRoute) -> Iterator[Any]:
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        yield dep.call
        stack.extend(dep.dependencies)


def required_roles(route: APIRoute) -> frozenset[Role] | None:
    """Roles a route admits: every role for CurrentUser routes, None for public routes."""
    found: frozenset[Role] | None = None
    for call in _calls(route):
        roles = getattr(call, "minyi_roles", None)
        if roles is not None:
            return frozenset(roles)
        if call is current_user:
            found = frozenset(Role)
    return found


def uses_session_user(route: APIRoute) -> bool:
    """True when the route resolves the caller (bearer or cookie), so CSRF applies to cookies."""
    return any(call is optional_user for call in _calls(route))


def roles_by_operation(app: FastAPI) -> dict[tuple[str, str], frozenset[Role] | None]:
    """(METHOD, path template) -> admitted roles (None: public)."""
    out: dict[tuple[str, str], frozenset[Role] | None] = {}
    for route in iter_routes(app.routes):
        for method in route.methods:
            out[(method.upper(), route.path)] = required_roles(route)
    return out


def page_post_routes(app: FastAPI) -> list[APIRoute]:
    """Every non-API route that accepts POST (the HTML forms)."""
    return [
        r for r in iter_routes(app.routes) if "POST" in r.methods and not r.path.startswith("/api/")
    ]
