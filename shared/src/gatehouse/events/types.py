"""Value types shared by the event schemas of several services."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

__all__ = ["Money"]


@dataclass(frozen=True)
class Money:
    """An amount in an ISO 4217 currency. Amounts are decimals, never floats."""

    amount: Decimal
    currency: str
