"""Command handlers: load, check who may, decide, append, keep the registry row. Never commit.

The infrastructure owns the transaction (one per HTTP command, one per consumed batch); the
events, their outbox rows, the registry row and the idempotency record commit together.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from sqlalchemy import Row, Text, cast, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gatehouse import apikeys
from gatehouse.commands import ExpectedVersion, check_put_precondition, check_version
from gatehouse.errors import Forbidden, InvalidInput, NotFound
from gatehouse.events.base import DomainEvent
from gatehouse.events.envelope import EventEnvelope
from gatehouse.events.governance import GateDecided, governance_events
from gatehouse.events.intake import CustomFieldDefinition, PersonalDataErased, intake_events
from gatehouse.eventstore.store import EventMetadata, EventStore
from gatehouse.idempotency import idempotency_keys
from gatehouse.messaging.consumer import EventHandler
from gatehouse.personal_keys import SealedEventData, erase_from_tables
from gatehouse.unit_of_work import UnitOfWork
from intake import api_keys, custom_fields, domain, registry, scoring
from intake.custom_fields import DefineCustomFields
from intake.domain import (
    AddRaidItem,
    ApplyGateDecision,
    CloseRaidItem,
    EditProject,
    Project,
    ReportStatus,
    RequestProject,
    ScoreProject,
    SubmitProject,
    UpdateRaidItem,
    WithdrawProject,
)
from intake.scoring import Assessment, DefineScoringModel, ScoringModel
from intake.tables import project_registry

__all__ = [
    "Actor",
    "VersionedDefinitions",
    "VersionedModel",
    "VersionedProject",
    "change_project",
    "define_custom_fields",
    "define_scoring_model",
    "gate_decision_handler",
    "get_api_key",
    "get_custom_fields",
    "get_project",
    "get_scoring_model",
    "issue_api_key",
    "list_api_keys",
    "list_scoring_models",
    "project_events",
    "request_project",
    "revoke_api_key",
    "score_project",
]

log = logging.getLogger(__name__)

ApiKeyRow = Row[Any]

E = TypeVar("E", bound=DomainEvent)


@dataclass(frozen=True)
class Actor:
    """Who sends a command, as far as object-level rules care."""

    subject: str
    is_pmo_admin: bool


@dataclass(frozen=True)
class VersionedProject:
    project: Project
    version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class VersionedDefinitions:
    fields: tuple[CustomFieldDefinition, ...]
    version: int


@dataclass(frozen=True)
class VersionedModel:
    model: ScoringModel
    version: int


# --- Projects -----------------------------------------------------------------------------


async def request_project(command: RequestProject, uow: UnitOfWork) -> VersionedProject:
    definitions = await _custom_field_definitions(uow)
    command = replace(command, custom=custom_fields.validate_values(definitions, command.custom))
    new_events = domain.decide(None, command)
    envelopes = await uow.append(
        domain.stream_id(command.project_id), new_events, expected_version=0
    )
    project = domain.replay(new_events)
    assert project is not None
    first = envelopes[0]
    await registry.insert_row(
        uow.connection, project, version=len(envelopes), position=first.position or 0, at=first.time
    )
    return VersionedProject(project, len(envelopes), first.time, first.time)


async def get_project(project_id: UUID, uow: UnitOfWork) -> VersionedProject:
    history = await uow.load(domain.stream_id(project_id))
    project = domain.replay(event for event, _ in history)
    if project is None:
        raise NotFound(f"no project {project_id}")
    return VersionedProject(
        project, history[-1][1].stream_version or 0, history[0][1].time, history[-1][1].time
    )


async def change_project(
    project_id: UUID,
    command: domain.Command,
    uow: UnitOfWork,
    *,
    expected: ExpectedVersion,
    actor: Actor,
) -> VersionedProject:
    """Apply one command to an existing project after the object-level and If-Match checks
    (in that order: a stale If-Match from someone who may not change the project at all gets
    403, not a 412 carrying the current ETag)."""
    current = await get_project(project_id, uow)
    _authorize(actor, current.project, command)
    check_version(expected, current.version, resource=f"project {project_id}")
    if isinstance(command, EditProject) and "custom" in command.changes:
        command = EditProject(
            changes={
                **command.changes,
                "custom": await _merged_custom_values(
                    uow, current.project, command.changes["custom"]
                ),
            }
        )
    return await _decide_and_append(uow, current, command)


async def score_project(
    project_id: UUID,
    *,
    model_key: str,
    assessment_id: UUID,
    assessment: Assessment,
    mandatory: bool,
    mandatory_reason: str,
    rationale: str,
    uow: UnitOfWork,
    expected: ExpectedVersion,
    actor: Actor,
) -> VersionedProject:
    """Score the project against the latest version of the scoring model ``model_key``."""
    model = await get_scoring_model(model_key, uow, missing_is_input_error=True)
    command = ScoreProject(
        assessment_id=assessment_id,
        model=model.model,
        assessment=assessment,
        mandatory=mandatory,
        mandatory_reason=mandatory_reason,
        rationale=rationale,
        assessed_by=actor.subject,
    )
    return await change_project(project_id, command, uow, expected=expected, actor=actor)


async def project_events(
    project_id: UUID, event_class: type[E], uow: UnitOfWork
) -> list[tuple[E, EventEnvelope]]:
    """The project's events of one type, oldest first (for histories such as status reports)."""
    history = await uow.load(domain.stream_id(project_id))
    if not history:
        raise NotFound(f"no project {project_id}")
    return [(event, envelope) for event, envelope in history if isinstance(event, event_class)]


async def _decide_and_append(
    uow: UnitOfWork, current: VersionedProject, command: domain.Command
) -> VersionedProject:
    new_events = domain.decide(current.project, command)
    if not new_events:
        return current
    envelopes = await uow.append(
        domain.stream_id(current.project.id), new_events, expected_version=current.version
    )
    project: Project | None = current.project
    for event in new_events:
        project = domain.evolve(project, event)
    assert project is not None
    version = current.version + len(new_events)
    await registry.update_row(uow.connection, project, version=version, at=envelopes[-1].time)
    return VersionedProject(project, version, current.created_at, envelopes[-1].time)


# Commands the requester of a project may send about their own project (a PMO admin may send
# every command). Status reports and RAID entries may also come from the sponsor.
_OWNER_COMMANDS = (EditProject, SubmitProject, WithdrawProject)
_TEAM_COMMANDS = (ReportStatus, AddRaidItem, UpdateRaidItem, CloseRaidItem)


def _authorize(actor: Actor, project: Project, command: domain.Command) -> None:
    if actor.is_pmo_admin:
        return
    if isinstance(command, _OWNER_COMMANDS) and actor.subject == project.requested_by:
        return
    if isinstance(command, _TEAM_COMMANDS) and actor.subject in (
        project.requested_by,
        project.sponsor,
    ):
        return
    if isinstance(command, _OWNER_COMMANDS):
        who = "the project's requester"
    elif isinstance(command, _TEAM_COMMANDS):
        who = "the project's requester or sponsor"
    else:
        who = "a PMO admin"
    raise Forbidden(f"only {who} may do this to project {project.id}", rule="object-ownership")


async def _merged_custom_values(uow: UnitOfWork, project: Project, patch: Any) -> Any:
    """JSON merge patch of custom values: a key set to null is removed; then all are checked."""
    if not isinstance(patch, dict):
        raise InvalidInput.for_field("custom", "must be an object of custom field values")
    merged = {**project.custom, **patch}
    values = {key: value for key, value in merged.items() if value is not None}
    return custom_fields.validate_values(await _custom_field_definitions(uow), values)


# --- Custom fields ------------------------------------------------------------------------


async def get_custom_fields(uow: UnitOfWork) -> VersionedDefinitions:
    history = await uow.load_for_version(custom_fields.STREAM_ID, None)
    return VersionedDefinitions(
        custom_fields.current_definitions(e for e, _ in history),
        history[-1][1].stream_version or 0 if history else 0,
    )


async def define_custom_fields(
    command: DefineCustomFields, uow: UnitOfWork, *, expected: ExpectedVersion | None
) -> VersionedDefinitions:
    current = await get_custom_fields(uow)
    check_put_precondition(expected, current.version, resource="the custom fields")
    new_events = custom_fields.define(command)
    await uow.append(custom_fields.STREAM_ID, new_events, expected_version=current.version)
    return VersionedDefinitions(command.fields, current.version + len(new_events))


async def _custom_field_definitions(uow: UnitOfWork) -> Sequence[CustomFieldDefinition]:
    return (await get_custom_fields(uow)).fields


# --- API keys ------------------------------------------------------------------------------


async def issue_api_key(command: api_keys.IssueApiKey, uow: UnitOfWork) -> ApiKeyRow:
    new_events = api_keys.decide_issue(command)
    envelopes = await uow.append(apikeys.stream_id(command.key_id), new_events, expected_version=0)
    for envelope in envelopes:
        await apikeys.record_api_key_event(uow.connection, envelope)
    return await get_api_key(command.key_id, uow)


async def revoke_api_key(key_id: str, command: api_keys.RevokeApiKey, uow: UnitOfWork) -> ApiKeyRow:
    history = await uow.load(apikeys.stream_id(key_id))
    key = api_keys.replay(event for event, _ in history)
    if key is None:
        raise NotFound(f"no API key {key_id}")
    envelopes = await uow.append(
        apikeys.stream_id(key_id),
        api_keys.decide_revoke(key, command),
        expected_version=len(history),
    )
    for envelope in envelopes:
        await apikeys.record_api_key_event(uow.connection, envelope)
    return await get_api_key(key_id, uow)


async def get_api_key(key_id: str, uow: UnitOfWork) -> ApiKeyRow:
    row = (
        await uow.connection.execute(
            select(apikeys.api_keys).where(apikeys.api_keys.c.key_id == key_id)
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"no API key {key_id}")
    return row


async def list_api_keys(uow: UnitOfWork) -> Sequence[ApiKeyRow]:
    """Every key, newest first (a PMO issues tens of keys, not thousands: no paging)."""
    rows = await uow.connection.execute(
        select(apikeys.api_keys).order_by(
            apikeys.api_keys.c.issued_at.desc(), apikeys.api_keys.c.key_id
        )
    )
    return list(rows)


# --- Scoring models -----------------------------------------------------------------------


async def get_scoring_model(
    model_key: str,
    uow: UnitOfWork,
    *,
    version: int | None = None,
    missing_is_input_error: bool = False,
) -> VersionedModel:
    history = await uow.load_for_version(scoring.stream_id(model_key), version)
    model = scoring.model_at((event for event, _ in history), version)
    if model is None:
        which = f"version {version} of " if version is not None else ""
        if missing_is_input_error:
            raise InvalidInput.for_field("model", f"there is no scoring model {model_key}")
        raise NotFound(f"there is no {which}scoring model {model_key}")
    return VersionedModel(model, history[-1][1].stream_version or 0)


async def list_scoring_models(uow: UnitOfWork) -> list[VersionedModel]:
    prefix = scoring.stream_id("")
    keys = [
        stream[len(prefix) :]
        for stream in await uow.event_store.stream_ids(uow.connection, prefix=prefix)
    ]
    return [await get_scoring_model(key, uow) for key in keys]


async def define_scoring_model(
    command: DefineScoringModel, uow: UnitOfWork, *, expected: ExpectedVersion | None
) -> VersionedModel:
    stream = scoring.stream_id(command.key)
    version = await uow.event_store.stream_version(uow.connection, stream)
    check_put_precondition(expected, version, resource=f"scoring model {command.key}")
    new_events = scoring.define(version, command)
    await uow.append(stream, new_events, expected_version=version)
    model = scoring.model_at(new_events)
    assert model is not None
    return VersionedModel(model, version + len(new_events))


# --- Gate decisions from governance -------------------------------------------------------


def gate_decision_handler(event_store: EventStore) -> EventHandler:
    """Consumes ``gatehouse.governance.events``: a ``GateDecided`` moves its project."""

    async def apply(connection: AsyncConnection, envelope: EventEnvelope) -> None:
        if envelope.type != GateDecided.event_type:
            return
        decided = governance_events.deserialize(envelope.type, envelope.data)
        assert isinstance(decided, GateDecided)
        metadata = EventMetadata(
            actor=envelope.actor or "governance",
            correlation_id=envelope.correlation_id,
            causation_id=str(envelope.id),
        )
        uow = UnitOfWork(connection, event_store, intake_events, metadata)
        try:
            current = await get_project(decided.project_id, uow)
        except NotFound:
            log.warning(
                "gate decision for an unknown project ignored",
                extra={"project_id": str(decided.project_id), "review_id": str(decided.review_id)},
            )
            return
        result = await _decide_and_append(
            uow,
            current,
            ApplyGateDecision(
                review_id=decided.review_id,
                gate=decided.gate,
                outcome=decided.outcome,
                rationale=decided.rationale,
            ),
        )
        if result.version == current.version:
            log.info(
                "gate decision did not fit the project's state; nothing changed",
                extra={
                    "project_id": str(decided.project_id),
                    "outcome": decided.outcome,
                    "state": current.project.lifecycle_state,
                },
            )

    return apply


# --- Personal data --------------------------------------------------------------------------


async def erase_personal_data(
    subject: str,
    reason: str,
    uow: UnitOfWork,
    personal_data: SealedEventData,
    *,
    erasure_id: UUID,
    now: datetime,
) -> list[str]:
    """Destroy every key that seals ``subject`` in any service's events, clean intake's read
    models, and record the erasure (naming the keys, not the person); returns the refs."""
    refs = await personal_data.keys.forget(
        uow.connection, subject, now=now, elsewhere=personal_data.follower
    )
    if not refs:
        raise NotFound("no event of any service names this person")
    await forget_person(uow.connection, subject)
    await uow.append(
        f"personal-data-erasure-{erasure_id}",
        [
            PersonalDataErased(
                erasure_id=erasure_id,
                refs=tuple(refs),
                reason=reason,
                requested_by=uow.metadata.actor or "unknown",
            )
        ],
        expected_version=0,
    )
    return refs


async def forget_person(connection: AsyncConnection, subject: str) -> None:
    """Intake's read models without ``subject``: the registry's people, and the stored
    responses a retried request would replay (they may name them)."""
    await erase_from_tables(connection, subject, [project_registry])
    await connection.execute(
        delete(idempotency_keys).where(
            or_(
                idempotency_keys.c.principal == subject,
                cast(idempotency_keys.c.body, Text).contains(subject),
            )
        )
    )
