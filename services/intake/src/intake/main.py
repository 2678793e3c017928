"""The intake ASGI app.

Run with ``python -m intake``: it serves the app under the server settings every service
shares (gatehouse.server: request-head limits), which a bare ``uvicorn --factory`` would not
apply.
"""

from __future__ import annotations

from fastapi import FastAPI

from gatehouse.web import create_service_app
from intake.api import router
from intake.bootstrap import build_runtime
from intake.settings import IntakeSettings

__all__ = ["create_app"]


def create_app(settings: IntakeSettings | None = None) -> FastAPI:
    settings = settings or IntakeSettings()
    return create_service_app(
        runtime=build_runtime(settings),
        title="Gatehouse intake",
        description="Project requests, the project registry and its lifecycle.",
        routers=[router],
    )
