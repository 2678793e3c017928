"""An approver's inbox: the open reviews waiting for their vote now.

A review waits for the seats in ``review_awaiting`` (every empty seat, or the next one of a
sequential panel). A person may fill their named seat, a seat of a role their token carries, or
the named seat of an approver who delegated to them (within the delegation's period and scope).
Segregation of duties keeps a project's requester and sponsor out, and nobody votes for them as
a delegate either. Those last checks run on each page in Python; pages are topped up so that a
full page comes back while there are more reviews to show.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from gatehouse.events.governance import ROLE_SEAT, USER_SEAT
from gatehouse.identity import Pseudonyms, load_pseudonyms
from governance import queries
from governance.domain import ActiveDelegation
from governance.queries import ReviewFilter, ReviewPage

__all__ = ["Inbox"]


@dataclass(frozen=True)
class Inbox:
    subject: str
    roles: frozenset[str]
    delegations: tuple[ActiveDelegation, ...]
    pseudonyms: Pseudonyms

    @classmethod
    async def of(
        cls, connection: AsyncConnection, subject: str, roles: frozenset[str], now: datetime
    ) -> Inbox:
        return cls(
            subject,
            roles,
            await queries.active_delegations_to(connection, subject, now),
            await load_pseudonyms(connection),
        )

    @property
    def own_seats(self) -> frozenset[str]:
        return frozenset({USER_SEAT + self.subject, *(ROLE_SEAT + role for role in self.roles)})

    @property
    def seats(self) -> list[str]:
        return sorted(self.own_seats | {USER_SEAT + d.from_user for d in self.delegations})

    async def page(
        self,
        connection: AsyncConnection,
        where: ReviewFilter,
        *,
        cursor: str | None,
        limit: int,
        now: datetime,
    ) -> ReviewPage:
        where = replace(where, awaiting_seats=self.seats)
        kept: list[Any] = []
        while True:
            page = await queries.list_reviews(connection, where, cursor=cursor, limit=limit)
            kept.extend(await self._actionable(connection, page.rows, now))
            cursor = page.next_cursor
            if len(kept) >= limit or cursor is None:
                break
        if len(kept) > limit:
            kept = kept[:limit]
            cursor = queries.cursor_after(kept[-1])
        return ReviewPage(kept, cursor)

    async def _actionable(
        self, connection: AsyncConnection, rows: list[Any], now: datetime
    ) -> list[Any]:
        if not rows:
            return []
        facts = await queries.projects_facts(connection, {row.project_id for row in rows})
        awaiting = await queries.awaiting_seats_of(connection, [row.review_id for row in rows])
        me = self.pseudonyms.of(self.subject)
        kept = []
        for row in rows:
            # As the vote checks it (governance.domain): by pseudonym, and nobody may vote
            # when the requester or sponsor cannot be told.
            project = facts.get(row.project_id)
            if project is not None and (
                not project.conflicts_known or project.conflict_of(me) is not None
            ):
                continue
            seats = awaiting.get(row.review_id, set())
            if seats & self.own_seats or any(
                USER_SEAT + d.from_user in seats
                and (
                    project is None or project.conflict_of(self.pseudonyms.of(d.from_user)) is None
                )
                and d.covers_gate(
                    project_type=row.project_type, gate=row.gate, project_id=row.project_id, at=now
                )
                for d in self.delegations
            ):
                kept.append(row)
        return kept
