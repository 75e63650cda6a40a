"""The console's home page, health check and API documentation.

FastAPI's own ``/docs`` page loads Swagger UI from a CDN and runs an inline script, both refused by our
CSP (and there is no internet on a monitoring host); ``/docs`` here renders the OpenAPI description of
every ``/api/`` route on the server instead, and ``/openapi.json`` serves the machine-readable schema.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from swarmscope.web.deps import UserDep, require
from swarmscope.web.roles import Role
from swarmscope.web.templating import page

router = APIRouter()
VIEWER = [Depends(require(Role.VIEWER))]


@router.get("/health")
def health() -> dict[str, str]:
    """Liveness for a load balancer (public; says nothing about the data)."""
    return {"status": "ok"}


@router.get("/", response_class=HTMLResponse, dependencies=VIEWER)
def home(request: Request) -> HTMLResponse:
    """The start page: what this user may open."""
    return page(request, "home.html.j2", roles=Role)


@router.get("/api/me", dependencies=VIEWER)
def me(user: UserDep) -> dict[str, Any]:
    """The signed-in user: name, role and rights holder (None: every client)."""
    return {"id": user.id, "name": user.name, "role": user.role.label, "client": user.client}


@router.get("/openapi.json", dependencies=VIEWER, include_in_schema=False)
def openapi(request: Request) -> dict[str, Any]:
    """The OpenAPI 3 description of the console's routes."""
    schema: dict[str, Any] = request.app.openapi()
    return schema


@router.get("/docs", response_class=HTMLResponse, dependencies=VIEWER, include_in_schema=False)
def docs(request: Request) -> HTMLResponse:
    """Every JSON route with its method, summary and parameters, from the OpenAPI schema."""
    schema = request.app.openapi()
    rows = [
        (method.upper(), path, op.get("summary", ""), op.get("description", ""))
        for path, methods in sorted(schema.get("paths", {}).items())
        if path.startswith("/api/")
        for method, op in methods.items()
    ]
    return page(request, "docs.html.j2", rows=rows)
