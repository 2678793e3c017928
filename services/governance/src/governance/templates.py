"""Gate templates: the ordered gates of a project type, versioned. Plain Python.

A PMO admin defines a template with one PUT; each definition is a new version
(``GateTemplateDefined``), and a review keeps the version it opened with.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gatehouse.errors import InvalidInput
from gatehouse.events.base import DomainEvent
from gatehouse.events.governance import GateDefinition, GateTemplateDefined

__all__ = ["DefineGateTemplate", "GateTemplate", "define", "stream_id", "template_at"]

MAX_GATES = 20
MAX_SEATS = 100


@dataclass(frozen=True, kw_only=True)
class DefineGateTemplate:
    project_type: str
    name: str
    description: str
    escalation_role: str
    gates: tuple[GateDefinition, ...]
    defined_by: str


@dataclass(frozen=True, kw_only=True)
class GateTemplate:
    project_type: str
    version: int
    name: str
    description: str
    escalation_role: str
    gates: tuple[GateDefinition, ...]
    defined_by: str

    def gate(self, key: str) -> GateDefinition | None:
        return next((gate for gate in self.gates if gate.key == key), None)


def stream_id(project_type: str) -> str:
    return f"gate-template-{project_type}"


def define(current_version: int, command: DefineGateTemplate) -> list[DomainEvent]:
    """The next version of the template, after checking it can be run."""
    _check(command)
    return [
        GateTemplateDefined(
            project_type=command.project_type,
            version=current_version + 1,
            name=command.name,
            description=command.description,
            escalation_role=command.escalation_role,
            gates=command.gates,
            defined_by=command.defined_by,
        )
    ]


def template_at(history: Iterable[DomainEvent], version: int | None = None) -> GateTemplate | None:
    """The template as of ``version`` (the latest when None); None if there is no such one."""
    found: GateTemplate | None = None
    for event in history:
        if not isinstance(event, GateTemplateDefined):
            continue
        found = GateTemplate(
            project_type=event.project_type,
            version=event.version,
            name=event.name,
            description=event.description,
            escalation_role=event.escalation_role,
            gates=event.gates,
            defined_by=event.defined_by,
        )
        if version is not None and event.version == version:
            return found
    return found if version is None else None


def _check(command: DefineGateTemplate) -> None:
    if not command.gates:
        raise InvalidInput.for_field("gates", "a template needs at least one gate")
    if len(command.gates) > MAX_GATES:
        raise InvalidInput.for_field("gates", f"at most {MAX_GATES} gates")
    _unique((gate.key for gate in command.gates), "gates", "gate key")
    for index, gate in enumerate(command.gates):
        where = f"gates.{index}"
        _unique((c.key for c in gate.criteria), f"{where}.criteria", "criterion key")
        _unique((e.key for e in gate.evidence), f"{where}.evidence", "evidence key")
        rule = gate.approval
        seats = rule.seats
        if not seats:
            raise InvalidInput.for_field(
                f"{where}.approval.approvers", "a gate needs at least one approver seat"
            )
        if len(seats) > MAX_SEATS:
            raise InvalidInput.for_field(
                f"{where}.approval.approvers", f"at most {MAX_SEATS} seats"
            )
        for number, seat in enumerate(seats):
            if (seat.user is None) == (seat.role is None):
                raise InvalidInput.for_field(
                    f"{where}.approval.approvers.{number}",
                    "a seat names exactly one of user or role",
                )
        _unique((seat.label for seat in seats), f"{where}.approval.approvers", "seat")
        if rule.quorum == "n_of_m":
            if rule.n is None or not 1 <= rule.n <= len(seats):
                raise InvalidInput.for_field(
                    f"{where}.approval.n",
                    f"n_of_m needs n between 1 and the number of seats ({len(seats)})",
                )
        elif rule.n is not None:
            raise InvalidInput.for_field(f"{where}.approval.n", "n is only for the n_of_m quorum")
        if gate.sla_hours < 1:
            raise InvalidInput.for_field(f"{where}.sla_hours", "must be at least 1 hour")


def _unique(keys: Iterable[str], field: str, what: str) -> None:
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            raise InvalidInput.for_field(field, f"{what} {key!r} appears twice")
        seen.add(key)
