"""Request-body values read as their JSON Schema says, not as pydantic's lax mode would.

FastAPI validates a parsed body in pydantic's Python mode, whose lax coercion takes ``true`` for
the integer 1 and the number ``0`` for the date 1970-01-01. The OpenAPI documents promise a JSON
integer and an ISO 8601 string; these types keep that promise (tests/contract fuzzes it).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import AwareDatetime, BeforeValidator, StringConstraints

__all__ = ["JSON_INTEGER", "NOT_BLANK", "IsoAwareDatetime", "IsoDate", "IsoDateTime", "not_blank"]


def _json_number(value: object) -> object:
    # JSON Schema's integer includes 1.0; true and "1" are not numbers at all.
    if isinstance(value, bool | str):
        raise ValueError("must be a JSON integer")
    return value


def _iso_text(value: object) -> object:
    if isinstance(value, str | date):
        return value
    raise ValueError("must be an ISO 8601 string")


# Last in ``Annotated[int, Field(ge=1), JSON_INTEGER]``: placed before the constraints it would
# hide them from the JSON Schema.
JSON_INTEGER = BeforeValidator(_json_number)
IsoDate = Annotated[date, BeforeValidator(_iso_text)]
IsoDateTime = Annotated[datetime, BeforeValidator(_iso_text)]
IsoAwareDatetime = Annotated[AwareDatetime, BeforeValidator(_iso_text)]

# The pattern of a text that must not be blank, beside ``strip_whitespace`` and ``min_length=1``:
# the minimum length counts what is left after stripping, which JSON Schema cannot say, so the
# pattern says it. Unanchored: somewhere a character that is not white space as pydantic strips
# it (Unicode's White_Space), spelled out because ``\s`` means other sets in Python's and
# ECMAScript's regular expressions (U+0085, U+001C to U+001F), and clients read either.
NOT_BLANK = r"[^\t\n\x0b\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"


def not_blank(max_length: int) -> StringConstraints:
    """A text that must hold something besides white space: stripped, at least one character
    left, and :data:`NOT_BLANK` to say so in JSON Schema."""
    return StringConstraints(strip_whitespace=True, min_length=1, pattern=NOT_BLANK,
                             max_length=max_length)
