"""The PMO wall page: static files served by reporting, live through its event stream."""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI
from fastapi.responses import Response

__all__ = ["SECURITY_HEADERS", "add_dashboard"]

# The page loads only its own files and talks only to this service.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; img-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}
FILES = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}


def _read(name: str) -> bytes:
    return resources.files(__package__).joinpath(name).read_bytes()


def add_dashboard(app: FastAPI) -> None:
    page = _read("index.html")
    assets = {name: _read(name) for name in FILES}

    @app.get(
        "/dashboard",
        tags=["dashboard"],
        response_class=Response,
        summary="The PMO wall: pipeline, health, gate queue and decisions, live "
        "(open with #token=<jwt>)",
    )
    async def dashboard() -> Response:
        return Response(page, media_type="text/html; charset=utf-8", headers=SECURITY_HEADERS)

    for name, media_type in FILES.items():

        def serve(name: str = name, media_type: str = media_type) -> Response:
            return Response(assets[name], media_type=media_type, headers=SECURITY_HEADERS)

        app.add_api_route(f"/dashboard/{name}", serve, methods=["GET"], include_in_schema=False)
