"""Structured JSON logs with correlation ids, and each service's Prometheus metrics."""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["Metrics", "configure_logging", "correlation_id", "current_actor"]

correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)
current_actor: ContextVar[str | None] = ContextVar("current_actor", default=None)

_STANDARD_ATTRIBUTES = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, service, correlation id, extras."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "service": self.service,
        }
        if (cid := correlation_id.get()) is not None:
            entry["correlation_id"] = cid
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(service: str, level: str = "INFO", *, json_logs: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if json_logs:
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(
            logging.Formatter(f"%(asctime)s %(levelname)s {service} %(name)s: %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "kafka"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    logging.getLogger("uvicorn.access").disabled = True


class Metrics:
    """The Prometheus metrics of one service instance, in a registry of its own."""

    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry()
        labels = {"service": service}
        self.http_requests = Counter(
            "gatehouse_http_requests_total",
            "HTTP requests handled",
            ["method", "route", "status"],
            registry=self.registry,
        ).labels
        self.http_duration = Histogram(
            "gatehouse_http_request_duration_seconds",
            "HTTP request duration",
            ["method", "route"],
            registry=self.registry,
        ).labels
        self.outbox_published = Counter(
            "gatehouse_outbox_published_events_total",
            "Events the outbox relay published",
            ["service"],
            registry=self.registry,
        ).labels(**labels)
        self.outbox_pending = Gauge(
            "gatehouse_outbox_pending_events",
            "Stored events not yet published",
            ["service"],
            registry=self.registry,
        ).labels(**labels)
        self.consumed = Counter(
            "gatehouse_consumer_events_total",
            "Events a consumer handled, by outcome",
            ["consumer", "outcome"],
            registry=self.registry,
        ).labels
        self.consumer_lag_seconds = Gauge(
            "gatehouse_consumer_lag_seconds",
            "While a partition has events waiting: seconds "
            "since the last event the consumer applied was produced (0 when caught up)",
            ["consumer", "topic", "partition"],
            registry=self.registry,
        ).labels
        self.timer_events = Counter(
            "gatehouse_timer_events_total",
            "Events raised by the service's timers (SLA escalations, condition breaches)",
            ["event"],
            registry=self.registry,
        ).labels
        self.consumer_lag = Gauge(
            "gatehouse_consumer_lag_events",
            "Events behind the end of each partition",
            ["consumer", "topic", "partition"],
            registry=self.registry,
        ).labels
