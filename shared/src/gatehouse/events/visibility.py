"""Who may read which events: one row per event type of every producer.

Reporting serves the events themselves (the live stream, a project's timeline). A caller gets an
event only as its row allows: whole, in part (only the fields the row names), or not at all.
The rows follow the read endpoints: what the API shows only to some roles (API keys, personal
data erasures and delegations to the audit roles; votes and their rationales to them and to the
approvers, who deliberate together) goes only to those roles; a project's life, its gates and the
definitions everyone may read go to everyone. A type without a row goes to no one, so a new event
type stays unseen until it has one (a test fails until then). Governance asks the same rows
(:func:`sees_whole`) before it shows votes or someone else's delegation. ``docs/SECURITY.md``
holds the same table in words.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from gatehouse.auth import Role
from gatehouse.events.base import DomainEvent
from gatehouse.events.governance import (
    ConditionBreached,
    ConditionMet,
    DelegationGranted,
    DelegationRevoked,
    GateDecided,
    GateReviewEscalated,
    GateReviewOpened,
    GateReviewWithdrawn,
    GateTemplateDefined,
    VoteCast,
    VoteRevised,
)
from gatehouse.events.intake import (
    ApiKeyIssued,
    ApiKeyRevoked,
    CustomFieldsDefined,
    PersonalDataErased,
    ProjectApproved,
    ProjectClosed,
    ProjectDeferred,
    ProjectEdited,
    ProjectKilled,
    ProjectPutOnHold,
    ProjectQualified,
    ProjectReactivated,
    ProjectRecycled,
    ProjectRejected,
    ProjectRequested,
    ProjectResumed,
    ProjectScored,
    ProjectScreeningStarted,
    ProjectStageAdvanced,
    ProjectSubmitted,
    ProjectTolerancesChanged,
    ProjectWithdrawn,
    RaidItemAdded,
    RaidItemClosed,
    RaidItemUpdated,
    ScoringModelDefined,
    StatusReported,
    ToleranceBreached,
    ToleranceRecovered,
)

__all__ = [
    "AUDIT",
    "EVENT_VISIBILITY",
    "EVERYONE",
    "PANEL",
    "Visibility",
    "sees_whole",
    "visible_data",
    "visible_types",
]

EVERYONE = frozenset(Role)
# The roles that read the audit: GET /v1/audit/*, GET /v1/api-keys, every delegation.
AUDIT = frozenset({Role.PMO_ADMIN, Role.AUDITOR})
# The roles that read every vote: the audit, and the approvers, who deliberate together.
PANEL = AUDIT | {Role.APPROVER}
NOBODY: frozenset[Role] = frozenset()


@dataclass(frozen=True)
class Visibility:
    """Who reads the events of one type. ``whole``: these roles get every field. ``part``:
    these roles get only ``fields`` (named, so that a field added later stays back until it
    is named here)."""

    whole: frozenset[Role]
    part: frozenset[Role] = NOBODY
    fields: tuple[str, ...] = ()

    def readers(self) -> frozenset[Role]:
        return self.whole | self.part


PUBLIC = Visibility(whole=EVERYONE)
AUDIT_ONLY = Visibility(whole=AUDIT)

_ROWS: dict[type[DomainEvent], Visibility] = {
    # intake: a project's life and what everyone may read at GET /v1/projects/{id}[/...]
    ProjectRequested: PUBLIC,
    ProjectEdited: PUBLIC,
    ProjectSubmitted: PUBLIC,
    ProjectScreeningStarted: PUBLIC,
    ProjectQualified: PUBLIC,
    ProjectApproved: PUBLIC,
    ProjectDeferred: PUBLIC,
    ProjectReactivated: PUBLIC,
    ProjectRejected: PUBLIC,
    ProjectWithdrawn: PUBLIC,
    ProjectRecycled: PUBLIC,
    ProjectStageAdvanced: PUBLIC,
    ProjectClosed: PUBLIC,
    ProjectPutOnHold: PUBLIC,
    ProjectResumed: PUBLIC,
    ProjectKilled: PUBLIC,
    ProjectScored: PUBLIC,
    ProjectTolerancesChanged: PUBLIC,
    StatusReported: PUBLIC,
    ToleranceBreached: PUBLIC,
    ToleranceRecovered: PUBLIC,
    RaidItemAdded: PUBLIC,
    RaidItemUpdated: PUBLIC,
    RaidItemClosed: PUBLIC,
    CustomFieldsDefined: PUBLIC,
    ScoringModelDefined: PUBLIC,
    # intake: GET /v1/api-keys is for the audit roles, and shows no secret's hash: the hash
    # serves the services that check keys (they read the topic), no reader.
    ApiKeyIssued: Visibility(
        whole=NOBODY,
        part=AUDIT,
        fields=("key_id", "name", "subject", "roles", "issued_by", "expires_at"),
    ),
    ApiKeyRevoked: AUDIT_ONLY,
    PersonalDataErased: AUDIT_ONLY,
    # governance: templates and reviews as GET /v1/gate-templates and /v1/gate-reviews show
    GateTemplateDefined: PUBLIC,
    GateReviewOpened: PUBLIC,
    GateReviewWithdrawn: PUBLIC,
    GateReviewEscalated: PUBLIC,
    ConditionMet: PUBLIC,
    ConditionBreached: PUBLIC,
    # governance: each vote (who voted what, why, on whose behalf) is the audit of decisions,
    # and the approvers' own business: they read each other's votes as they deliberate.
    # A gate's decision is the project's: everyone sees its outcome, conditions and rationale
    # (intake writes that into the step it causes, and a requester reworks a recycled request
    # by it); which votes it rests on, only those who read the votes.
    VoteCast: Visibility(whole=PANEL),
    VoteRevised: Visibility(whole=PANEL),
    GateDecided: Visibility(
        whole=PANEL,
        part=EVERYONE - PANEL,
        fields=(
            "review_id",
            "project_id",
            "gate",
            "outcome",
            "template_version",
            "rationale",
            "decided_by",
            "conditions",
            "rule",
        ),
    ),
    DelegationGranted: AUDIT_ONLY,
    DelegationRevoked: AUDIT_ONLY,
}

EVENT_VISIBILITY: Mapping[str, Visibility] = MappingProxyType(
    {event_class.event_type: visibility for event_class, visibility in _ROWS.items()}
)


def visible_types(roles: Collection[Role]) -> frozenset[str]:
    """The event types of which a caller with ``roles`` gets something."""
    return frozenset(
        event_type
        for event_type, visibility in EVENT_VISIBILITY.items()
        if visibility.readers() & set(roles)
    )


def visible_data(
    event_type: str, data: Mapping[str, Any], roles: Collection[Role]
) -> dict[str, Any] | None:
    """An event's data as a caller with ``roles`` may read it; None when they may not."""
    visibility = EVENT_VISIBILITY.get(event_type)
    if visibility is None:
        return None
    held = set(roles)
    if visibility.whole & held:
        return dict(data)
    if visibility.part & held:
        return {name: data[name] for name in visibility.fields if name in data}
    return None


def sees_whole(event_type: str, roles: Collection[Role]) -> bool:
    """Whether a caller with ``roles`` reads every field of the events of ``event_type``: the
    question a service asks before it shows what those events carry in a view of its own."""
    visibility = EVENT_VISIBILITY.get(event_type)
    return visibility is not None and bool(visibility.whole & set(roles))
