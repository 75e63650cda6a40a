"""The route-role table: every route of the console app with the minimum role it declares.

Read from the routes themselves (``dependencies=[Depends(require(Role.X))]``, whose function carries
``min_role``), so a new route is in the table the moment it exists; one without a role rule that is not
public makes :func:`route_table` name it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Mount

from swarmscope.web.auth import PUBLIC_PATHS
from swarmscope.web.roles import Role

PUBLIC_MOUNTS = {"/static"}


def min_role(dependencies: tuple[Any, ...]) -> Role | None:
    """The highest ``min_role`` among a route's declared dependencies (None: no role rule)."""
    roles = [getattr(d.dependency, "min_role", None) for d in dependencies]
    found = [r for r in roles if isinstance(r, Role)]
    return max(found) if found else None


def _flat(routes: list[BaseRoute], prefix: str = "", inherited: tuple[Any, ...] = ()) -> Iterator[Any]:
    """(path, route, dependencies) of every route, into included routers (FastAPI keeps them nested)."""
    for route in routes:
        context = getattr(route, "include_context", None)
        if context is not None:  # fastapi.routing._IncludedRouter
            deps = (*inherited, *context.dependencies)
            yield from _flat(route.original_router.routes, prefix + context.prefix, deps)  # type: ignore[attr-defined]
        else:
            path = prefix + getattr(route, "path", "?")
            own = tuple(route.dependencies) if isinstance(route, APIRoute) else ()
            yield path, route, (*inherited, *own)


def route_table(app: FastAPI) -> tuple[list[tuple[str, str, Role]], list[str]]:
    """((method, path, role) for every route with a rule, [routes without one that are not public])."""
    table: list[tuple[str, str, Role]] = []
    missing: list[str] = []
    for path, route, deps in _flat(app.routes):
        if isinstance(route, Mount):
            if path not in PUBLIC_MOUNTS:
                missing.append(f"mount {path}")
            continue
        if not isinstance(route, APIRoute):
            missing.append(f"{type(route).__name__} {path}")
            continue
        role = min_role(deps)
        for method in sorted(route.methods):
            if role is not None:
                table.append((method, path, role))
            elif path not in PUBLIC_PATHS:
                missing.append(f"{method} {path}")
    return table, missing


def concrete(path: str) -> str:
    """A path template with every parameter filled (``/cases/{case_id}`` -> ``/cases/1``)."""
    return re.sub(r"\{[^}]+\}", "1", path)
