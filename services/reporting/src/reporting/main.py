"""The reporting ASGI app.

Run with ``python -m reporting`` or ``uvicorn --factory reporting.main:create_app``.
"""

from __future__ import annotations

from fastapi import FastAPI

from gatehouse.web import create_service_app
from reporting.api import router
from reporting.bootstrap import build_runtime
from reporting.settings import ReportingSettings

__all__ = ["create_app"]


def create_app(settings: ReportingSettings | None = None) -> FastAPI:
    settings = settings or ReportingSettings()
    return create_service_app(
        runtime=build_runtime(settings), title="Gatehouse reporting",
        description="Read models of every service's events: portfolio, timelines, audit.",
        routers=[router])
