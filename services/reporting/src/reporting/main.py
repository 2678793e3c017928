"""The reporting ASGI app.

Run with ``python -m reporting``: it serves the app under the server settings every service
shares (gatehouse.server: request-head limits), which a bare ``uvicorn --factory`` would not
apply.
"""

from __future__ import annotations

from fastapi import FastAPI

from gatehouse.runtime import BackgroundJob, Clock, utc_now
from gatehouse.web import create_service_app
from reporting.api import router
from reporting.bootstrap import build_runtime, projection_topics
from reporting.dashboard import add_dashboard
from reporting.projections import PROJECTIONS_CONSUMER
from reporting.rebuild import Rebuilder
from reporting.settings import ReportingSettings
from reporting.stream import LiveLog

__all__ = ["create_app"]


def create_app(settings: ReportingSettings | None = None, *, clock: Clock = utc_now) -> FastAPI:
    """The app; ``clock`` is what the service takes for now (ages, waits, overdue)."""
    settings = settings or ReportingSettings()
    runtime = build_runtime(settings, clock=clock)
    app = create_service_app(
        runtime=runtime,
        title="Gatehouse reporting",
        description="Read models of every service's events: portfolio, timelines, audit.",
        routers=[router],
    )
    live_log = LiveLog(runtime.database, runtime.personal_data)
    app.state.live_log = live_log
    runtime.jobs = [*runtime.jobs, BackgroundJob(name="live-log", run=lambda _: live_log.follow())]
    rebuilder = Rebuilder(
        database=runtime.database,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        consumer_name=PROJECTIONS_CONSUMER,
        topics=projection_topics(settings.topic_namespace),
        personal_data=runtime.personal_data,
    )
    app.state.rebuilders = {PROJECTIONS_CONSUMER: rebuilder}
    runtime.closers.append(rebuilder.close)
    add_dashboard(app)
    return app
