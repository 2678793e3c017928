"""The security probes: what an attacker or a careless client tries, as tables of requests and
the answers they must get, with nothing written. The services run together on real Kafka and
PostgreSQL, as in the integration tests."""

from __future__ import annotations

from ..integration.conftest import Gatehouse, gatehouse, project_request

__all__ = ["Gatehouse", "gatehouse", "project_request"]
