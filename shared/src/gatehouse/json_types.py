"""Request values read as their JSON Schema says, not as pydantic's lax mode would.

FastAPI validates a parsed body in pydantic's Python mode, whose lax coercion takes ``true`` for
the integer 1 and the number ``0`` for the date 1970-01-01. The OpenAPI documents promise a JSON
integer and an ISO 8601 string; these types keep that promise (tests/contract fuzzes it). The
text and time types also say in JSON Schema, as a ``pattern``, what they refuse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StringConstraints,
    WithJsonSchema,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

__all__ = [
    "ANY_TEXT",
    "BIDI_CONTROLS",
    "CONTROLS",
    "FORMAT",
    "JSON_INTEGER",
    "LONG_TEXT",
    "OPTIONAL_LONG_TEXT",
    "OPTIONAL_SHORT_TEXT",
    "SHORT_TEXT",
    "TIME",
    "WHITE_SPACE",
    "AnyText",
    "Instant",
    "IsoDate",
    "as_stored",
    "long_text",
    "short_text",
    "text_problem",
]


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


# --- Times ------------------------------------------------------------------------------------

# Every time the API takes, in a body or a query: RFC 3339 text with its offset (JSON Schema's
# date-time), its date as written from 0001-01-02 to 9999-12-30. Gatehouse stores and compares
# instants in UTC, and an offset moves the date by less than a day, so each such time is an
# instant within datetime's range; 0001-01-01T00:00:00+14:00 (before year 1 in UTC) or
# 9999-12-31T23:59:59-14:00 (after 9999) is none. The pattern also asks for the shape of an
# RFC 3339 time, as the format does: pydantic alone reads "1700000000" as seconds since 1970.
TIME = r"^(?!0001-01-01|9999-12-31)[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt]"
_TIME = re.compile(TIME)
_FIRST_DAY, _LAST_DAY = date(1, 1, 2), date(9999, 12, 30)


def _time_text(value: object) -> object:
    if isinstance(value, datetime):  # from Python, not from a request
        if not _FIRST_DAY <= value.date() <= _LAST_DAY:
            raise ValueError(f"must lie from {_FIRST_DAY} to {_LAST_DAY}")
        return value
    if not isinstance(value, str) or _TIME.search(value) is None:
        if isinstance(value, str) and value.startswith(("0001-01-01", "9999-12-31")):
            raise ValueError(
                f"must lie from {_FIRST_DAY} to {_LAST_DAY} (its date as written): "
                "with its offset it may fall outside the calendar in UTC"
            )
        raise ValueError("must be an RFC 3339 time with its offset, e.g. 2027-03-01T09:00:00Z")
    return value


Instant = Annotated[
    AwareDatetime,
    BeforeValidator(_time_text),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": TIME}),
]


# --- Text -------------------------------------------------------------------------------------

# What a person types is a short text (one line: a title, a name, a label, a reference) or a
# long text (a description, reason, rationale, comment or summary, with tabs and line breaks:
# \n or \r\n). Neither holds any other control character (Unicode category Cc) nor a
# bidirectional control, which reorders what a reader sees ("Invoice \u202eFDP.exe" reads as
# "Invoice exe.PDF"). A text that must not be blank holds a visible character: white space and
# format characters (category Cf, such as U+200B, U+2060, U+FEFF) show nothing. Any other string
# holds no NUL, which no PostgreSQL text can store.
#
# Each rule is one pattern, checked on the text as sent (before it is stripped) and published as
# its JSON Schema ``pattern``, so Python's, ECMAScript's and Rust's regular expressions must read
# it alike: every class is spelled out (``\s`` means other sets in each), and the end of the text
# is ``(?![\s\S])``, since Python's ``$`` also matches before a final newline. Characters past
# U+FFFF stand as themselves, as no escape reads the same in all three (ECMAScript needs its
# ``u`` flag for them). pydantic's pattern engine has no lookahead: Python's ``re`` checks.

# Unicode's White_Space: what str.strip takes off an accepted text (it would also take U+001C to
# U+001F, controls that no text holds).
WHITE_SPACE = r"\t\n\x0b\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
CONTROLS = r"\x00-\x1f\x7f-\x9f"
BIDI_CONTROLS = r"\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
# Category Cf as of Unicode 14 (Python 3.11); shared/tests/test_json_types.py compares it with
# the running Python's.
FORMAT = (
    r"\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f"
    r"\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U00013438\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f"
)

_END = r"(?![\s\S])"
# Somewhere a character that is neither white space nor a format character (a control found
# first is refused by what follows it).
_VISIBLE = f"(?=[{WHITE_SPACE}{FORMAT}]*[^{WHITE_SPACE}{FORMAT}])"
_IN_A_LINE = rf"[^{CONTROLS}{BIDI_CONTROLS}\u2028\u2029]"
_IN_LONG_TEXT = rf"(?:[^\x00-\x08\x0b-\x1f\x7f-\x9f{BIDI_CONTROLS}]|\r\n)"

SHORT_TEXT = f"^{_VISIBLE}{_IN_A_LINE}*{_END}"
OPTIONAL_SHORT_TEXT = f"^{_IN_A_LINE}*{_END}"
LONG_TEXT = f"^{_VISIBLE}{_IN_LONG_TEXT}*{_END}"
OPTIONAL_LONG_TEXT = f"^{_IN_LONG_TEXT}*{_END}"
# Where Python's $ stops before a final newline, [^\x00]* has taken it: all read it alike.
ANY_TEXT = r"^[^\x00]*$"

# By (lines, required).
_PATTERNS = {
    (False, True): SHORT_TEXT,
    (False, False): OPTIONAL_SHORT_TEXT,
    (True, True): LONG_TEXT,
    (True, False): OPTIONAL_LONG_TEXT,
}
_RULES = {kind: re.compile(pattern) for kind, pattern in _PATTERNS.items()}
_SHOWN = re.compile(f"[^{WHITE_SPACE}{FORMAT}]")
_LINE_BREAKS_AND_TABS = re.compile(r"\r\n|[\n\t]")
_CONTROL = re.compile(f"[{CONTROLS}]")
_BIDI_CONTROL = re.compile(f"[{BIDI_CONTROLS}]")


def text_problem(value: str, *, lines: bool, required: bool) -> str | None:
    """Why ``value`` is not a short text (a long one with ``lines``), in words; ``None`` when it
    is one. A blank text is one only when not ``required``."""
    if _RULES[lines, required].search(value):
        return None
    if lines:
        if "\r" in value.replace("\r\n", ""):
            return r"must break lines with \n or \r\n (a lone \r)"
        value = _LINE_BREAKS_AND_TABS.sub(" ", value)
    elif re.search("[\n\r\u2028\u2029]", value):
        return "must be one line"
    if found := _CONTROL.search(value) or _BIDI_CONTROL.search(value):
        kind = "a control" if _CONTROL.match(found.group()) else "a bidirectional control"
        return f"must not contain {kind} character (U+{ord(found.group()):04X})"
    return "must not be blank (white space or invisible characters only)"


@dataclass(frozen=True)
class _Text:
    """A text checked as sent against its pattern, which its JSON Schema publishes, then
    stripped (a blank text, where one is allowed, becomes "")."""

    max_length: int
    lines: bool
    required: bool

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        def checked(value: str) -> str:
            problem = text_problem(value, lines=self.lines, required=self.required)
            if problem is not None:
                raise ValueError(problem)
            return value.strip() if _SHOWN.search(value) else ""

        return core_schema.no_info_after_validator_function(
            checked, core_schema.str_schema(max_length=self.max_length)
        )

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        document = handler(schema)
        document["pattern"] = _PATTERNS[self.lines, self.required]
        if self.required:
            document["minLength"] = 1
        return document


def short_text(max_length: int, *, required: bool = True) -> _Text:
    """One line of text (a title, a name, a label); with ``required``, not blank."""
    return _Text(max_length, lines=False, required=required)


def long_text(max_length: int, *, required: bool = True) -> _Text:
    """Text with tabs and line breaks (a description, a reason); with ``required``, not blank."""
    return _Text(max_length, lines=True, required=required)


# A string no other rule constrains (a filter, a key to look up): any text but NUL.
AnyText = Annotated[str, StringConstraints(pattern=ANY_TEXT)]


_Model = TypeVar("_Model", bound=BaseModel)


def as_stored(model: type[_Model], **values: Any) -> _Model:
    """A view built from what was stored, with a request body's model but not its rules: a
    value stored under older rules, or that reads ``[erased]`` since, is shown as it is rather
    than refused on the way out (a 500). Nested models are given as built by this too."""
    return model.model_construct(**values)
