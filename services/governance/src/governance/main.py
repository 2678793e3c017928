"""The governance ASGI app.

Run with ``python -m governance`` or ``uvicorn --factory governance.main:create_app``.
"""

from __future__ import annotations

from fastapi import FastAPI

from gatehouse.web import create_service_app
from governance.api import router
from governance.bootstrap import build_runtime
from governance.settings import GovernanceSettings

__all__ = ["create_app"]


def create_app(settings: GovernanceSettings | None = None) -> FastAPI:
    settings = settings or GovernanceSettings()
    return create_service_app(
        runtime=build_runtime(settings), title="Gatehouse governance",
        description="Stage gates, approvals and decisions.",
        routers=[router])
