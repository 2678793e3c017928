"""The governance ASGI app.

Run with ``python -m governance``: it serves the app under the server settings every service
shares (gatehouse.server: request-head limits), which a bare ``uvicorn --factory`` would not
apply.
"""

from __future__ import annotations

from fastapi import FastAPI

from gatehouse.runtime import Clock, utc_now
from gatehouse.web import create_service_app
from governance.api import router
from governance.bootstrap import build_runtime
from governance.settings import GovernanceSettings

__all__ = ["create_app"]


def create_app(settings: GovernanceSettings | None = None, *, clock: Clock = utc_now) -> FastAPI:
    """The app; ``clock`` is what the service takes for now (tests move it to make time pass)."""
    settings = settings or GovernanceSettings()
    return create_service_app(
        runtime=build_runtime(settings, clock=clock),
        title="Gatehouse governance",
        description="Stage gates, approvals and decisions.",
        routers=[router],
    )
