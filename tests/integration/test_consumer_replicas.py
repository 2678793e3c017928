"""Two replicas of intake and two of governance, as a Deployment with ``replicas: 2`` runs them:
each pair shares one database and one consumer group. Kafka splits the partitions between the
replicas, both apply events, and the result is exact: every event applied once, each service's
view of the other equal to the other's own record, one relay publishing, one escalation per
overdue review however many replicas sweep. (Reporting's replicas: test_reporting_replicas.)
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import func, select

from gatehouse.auth import Role
from gatehouse.events.governance import GateDecided, GateReviewEscalated
from gatehouse.events.intake import ProjectScreeningStarted
from gatehouse.eventstore.schema import consumer_streams, events
from gatehouse.runtime import ServiceRuntime
from gatehouse.testing.harness import RunningService, eventually
from governance.tables import known_projects
from governance.timers import GateTimers

from .conftest import Gatehouse, project_request

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

PROJECTS = 24  # enough streams that each replica's share of three partitions gets some
TEMPLATE = {
    "name": "One gate",
    "gates": [
        {
            "key": "G0",
            "name": "Idea screen",
            "sla_hours": 24,
            "approval": {"approvers": [{"user": "gina"}], "quorum": "any"},
        }
    ],
}


async def test_two_replicas_of_each_service_split_the_work_and_stay_exact(
    gatehouse: Gatehouse,
) -> None:
    intakes = [gatehouse.intake, await gatehouse.intake_replica()]
    governances = [gatehouse.governance, await gatehouse.governance_replica()]
    await asyncio.gather(
        eventually(
            lambda: _split(intakes),
            timeout=60,
            description="intake's replicas split governance's partitions",
        ),
        eventually(
            lambda: _split(governances),
            timeout=60,
            description="governance's replicas split intake's partitions",
        ),
    )

    pmo = gatehouse.governance.auth("pat", Role.PMO_ADMIN)
    assert (
        await gatehouse.governance.client.put(
            "/v1/gate-templates/standard", json=TEMPLATE, headers=pmo
        )
    ).status_code == 201
    # Requests go to either replica, as a Service spreads them.
    projects = await asyncio.gather(
        *(_requested_and_submitted(intakes[n % 2], n) for n in range(PROJECTS))
    )
    await eventually(
        lambda: _governance_knows(gatehouse, projects, "submitted"),
        timeout=60,
        description="governance learnt every submitted project",
    )
    reviews = await asyncio.gather(
        *(_opened_review(governances[n % 2], project) for n, project in enumerate(projects))
    )
    decided, left_open = reviews[::2], reviews[1::2]
    await asyncio.gather(
        *(_voted_go(governances[n % 2], review) for n, review in enumerate(decided))
    )

    # Both replicas' timers sweep at the same moment, a day after every SLA ran out.
    later = runtime_of(gatehouse.governance).clock() + timedelta(days=2)
    sweeps = await asyncio.gather(
        *(
            GateTimers(event_store=_event_store(runtime_of(replica)), interval_seconds=60).sweep(
                runtime_of(replica).database, later
            )
            for replica in governances
        )
    )
    assert sum(sweep.escalated for sweep in sweeps) == len(left_open)

    screened = set(projects[::2])
    await eventually(
        lambda: _governance_knows(gatehouse, screened, "screening"),
        timeout=60,
        description="intake moved every decided project and governance saw it",
    )

    # Exact: each service applied every event of the other once, in full.
    intake_db, governance_db = (
        runtime_of(gatehouse.intake).database,
        runtime_of(gatehouse.governance).database,
    )
    await eventually(
        lambda: _all_published(intakes + governances),
        timeout=30,
        description="both outboxes drained",
    )
    intake_streams, governance_streams = (
        await _stream_versions(intake_db),
        await _stream_versions(governance_db),
    )

    async def caught_up() -> bool:
        return (
            await _applied_versions(governance_db, "governance.known-projects") == intake_streams
            and await _applied_versions(intake_db, "intake.gate-decisions") == governance_streams
        )

    await eventually(
        caught_up,
        timeout=30,
        description="each consumer applied the other's every stream to its end",
    )

    # Intake moved each decided project once; the others are still waiting.
    for n, project in enumerate(projects):
        body = (await intakes[n % 2].client.get(f"/v1/projects/{project}", headers=pmo)).json()
        assert body["status"] == ("screening" if project in screened else "submitted")
    assert await _count_of(intake_db, ProjectScreeningStarted.event_type) == len(decided)
    assert await _count_of(governance_db, GateDecided.event_type) == len(decided)
    assert await _count_of(governance_db, GateReviewEscalated.event_type) == len(left_open)
    async with governance_db.engine.connect() as connection:
        statuses = dict(
            (
                await connection.execute(
                    select(known_projects.c.project_id, known_projects.c.status)
                )
            ).all()
        )
    assert {str(project): status for project, status in statuses.items()} == {
        project: "screening" if project in screened else "submitted" for project in projects
    }

    # The work was split: every replica applied events of the other service.
    for replica in intakes + governances:
        consumer = runtime_of(replica).consumers[0]
        assert runtime_of(replica).metrics.registry.get_sample_value(
            "gatehouse_consumer_events_total", {"consumer": consumer.name, "outcome": "applied"}
        ), f"{consumer.name} idle"

    # One relay per database published, and nothing twice.
    for pair, streams in ((intakes, intake_streams), (governances, governance_streams)):
        stored = sum(streams.values())
        published = sorted(relay_of(replica).published_total for replica in pair)
        assert published == [0, stored]
        topic = _event_store(runtime_of(pair[0])).topic
        assert await _topic_size(gatehouse.intake_settings.kafka_bootstrap_servers, topic) == stored


def runtime_of(service: RunningService) -> ServiceRuntime:
    runtime: ServiceRuntime = service.app.state.runtime
    return runtime


def relay_of(service: RunningService) -> Any:
    relay = runtime_of(service).relay
    assert relay is not None
    return relay


def _event_store(runtime: ServiceRuntime) -> Any:
    assert runtime.event_store is not None
    return runtime.event_store


async def _split(replicas: list[RunningService]) -> bool:
    owned = [
        {(p.topic, p.partition) for p in runtime_of(replica).consumers[0].partitions()}
        for replica in replicas
    ]
    first, second = owned
    return bool(first) and bool(second) and not first & second and len(first | second) == 3


async def _requested_and_submitted(intake: RunningService, n: int) -> str:
    alice = intake.auth("alice", Role.REQUESTER)
    created = await intake.client.post(
        "/v1/projects", headers=alice, json=project_request(title=f"Project {n}")
    )
    assert created.status_code == 201, created.text
    project_id: str = created.json()["id"]
    submitted = await intake.client.post(
        f"/v1/projects/{project_id}/submit", headers={**alice, "If-Match": created.headers["etag"]}
    )
    assert submitted.status_code == 200, submitted.text
    return project_id


async def _opened_review(governance: RunningService, project_id: str) -> str:
    response = await governance.client.post(
        "/v1/gate-reviews",
        headers=governance.auth("alice", Role.REQUESTER),
        json={"project_id": project_id},
    )
    assert response.status_code == 201, response.text
    review_id: str = response.json()["id"]
    return review_id


async def _voted_go(governance: RunningService, review_id: str) -> None:
    response = await governance.client.post(
        f"/v1/gate-reviews/{review_id}/votes",
        headers=governance.auth("gina", Role.APPROVER),
        json={"decision": "go"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["review"]["outcome"] == "go"


async def _governance_knows(gatehouse: Gatehouse, projects: Any, status: str) -> bool:
    database = runtime_of(gatehouse.governance).database
    async with database.engine.connect() as connection:
        statuses = {
            str(row.project_id): row.status
            for row in await connection.execute(
                select(known_projects.c.project_id, known_projects.c.status)
            )
        }
    return all(statuses.get(project) == status for project in projects)


async def _all_published(replicas: list[RunningService]) -> bool:
    return all([await relay_of(replica).pending_count() == 0 for replica in replicas])


async def _stream_versions(database: Any) -> dict[str, int]:
    """Each stream of the service's own event store and its last version."""
    async with database.engine.connect() as connection:
        return dict(
            (
                await connection.execute(
                    select(events.c.stream_id, func.max(events.c.version)).group_by(
                        events.c.stream_id
                    )
                )
            ).all()
        )


async def _applied_versions(database: Any, consumer: str) -> dict[str, int]:
    """Each stream a consumer applied and the last version it applied."""
    async with database.engine.connect() as connection:
        return dict(
            (
                await connection.execute(
                    select(consumer_streams.c.stream_id, consumer_streams.c.version).where(
                        consumer_streams.c.consumer == consumer
                    )
                )
            ).all()
        )


async def _count_of(database: Any, event_type: str) -> int:
    async with database.engine.connect() as connection:
        return int(
            (
                await connection.execute(
                    select(func.count()).select_from(events).where(events.c.type == event_type)
                )
            ).scalar_one()
        )


async def _topic_size(bootstrap_servers: str, topic: str) -> int:
    """How many records the topic holds: the sum of its partitions' end offsets."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap_servers)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        assert partitions, f"topic {topic} has no partitions"
        return sum((await consumer.end_offsets(partitions)).values())
    finally:
        await consumer.stop()
