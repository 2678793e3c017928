"""The intake ASGI app.

Run with ``python -m intake`` or ``uvicorn --factory intake.main:create_app``.
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
        runtime=build_runtime(settings), title="Gatehouse intake",
        description="Project requests, the project registry and its lifecycle.",
        routers=[router])
