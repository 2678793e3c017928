"""The request types' JSON Schema says what their validation does."""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Any

import jsonschema_rs
import pytest
from pydantic import BaseModel, StringConstraints, TypeAdapter, ValidationError

from gatehouse.json_types import (
    ANY_TEXT,
    BIDI_CONTROLS,
    FORMAT,
    LONG_TEXT,
    OPTIONAL_LONG_TEXT,
    OPTIONAL_SHORT_TEXT,
    SHORT_TEXT,
    TIME,
    WHITE_SPACE,
    AnyText,
    Instant,
    long_text,
    short_text,
)

# Lone surrogates are no text JSON can carry.
CHARACTERS = [chr(point) for point in range(sys.maxunicode + 1) if not 0xD800 <= point <= 0xDFFF]


def in_class(characters: str) -> re.Pattern[str]:
    return re.compile(f"[{characters}]")


def test_white_space_is_what_stripping_takes() -> None:
    stripped = TypeAdapter(Annotated[str, StringConstraints(strip_whitespace=True)])
    white_space = in_class(WHITE_SPACE)
    disagree = [
        f"U+{ord(character):04X}"
        for character in CHARACTERS
        if bool(white_space.fullmatch(character)) != (stripped.validate_python(character) == "")
    ]
    assert disagree == []


def test_format_characters_are_category_cf_of_this_python() -> None:
    """Every format character this Python's Unicode knows is in the spelled-out class; the class
    may run ahead of it (characters this Python has unassigned), never behind."""
    spelled = in_class(FORMAT)
    missing = [
        f"U+{ord(c):04X}"
        for c in CHARACTERS
        if unicodedata.category(c) == "Cf" and not spelled.fullmatch(c)
    ]
    wrong = [
        f"U+{ord(c):04X}"
        for c in CHARACTERS
        if spelled.fullmatch(c) and unicodedata.category(c) not in ("Cf", "Cn")
    ]
    assert (missing, wrong) == ([], []), unicodedata.unidata_version


def test_bidirectional_controls_are_the_marks_embeddings_overrides_and_isolates() -> None:
    named = [unicodedata.name(c) for c in CHARACTERS if in_class(BIDI_CONTROLS).fullmatch(c)]
    assert named == [
        "ARABIC LETTER MARK",
        "LEFT-TO-RIGHT MARK",
        "RIGHT-TO-LEFT MARK",
        "LEFT-TO-RIGHT EMBEDDING",
        "RIGHT-TO-LEFT EMBEDDING",
        "POP DIRECTIONAL FORMATTING",
        "LEFT-TO-RIGHT OVERRIDE",
        "RIGHT-TO-LEFT OVERRIDE",
        "LEFT-TO-RIGHT ISOLATE",
        "RIGHT-TO-LEFT ISOLATE",
        "FIRST STRONG ISOLATE",
        "POP DIRECTIONAL ISOLATE",
    ]


Short = TypeAdapter(Annotated[str, short_text(20)])
OptionalShort = TypeAdapter(Annotated[str, short_text(20, required=False)])
Long = TypeAdapter(Annotated[str, long_text(40)])
OptionalLong = TypeAdapter(Annotated[str, long_text(40, required=False)])
ANY = TypeAdapter(AnyText)
TEXTS = {
    "short": Short,
    "optional short": OptionalShort,
    "long": Long,
    "optional long": OptionalLong,
}


def refusal(adapter: TypeAdapter[Any], value: object) -> str:
    with pytest.raises(ValidationError) as refused:
        adapter.validate_python(value)
    return str(refused.value.errors()[0]["msg"]).removeprefix("Value error, ")


@pytest.mark.parametrize(
    ("kind", "sent", "kept"),
    [
        ("short", "  New CRM ", "New CRM"),
        ("short", "Invoice FDP.exe", "Invoice FDP.exe"),
        ("short", "\u05e9\u05dc\u05d5\u05dd world", "\u05e9\u05dc\u05d5\u05dd world"),  # RTL text
        ("short", "\U0001f469\u200d\U0001f4bb ops", "\U0001f469\u200d\U0001f4bb ops"),  # ZWJ emoji
        ("short", "\u00a0x\u3000", "x"),
        ("optional short", "", ""),
        ("optional short", " \u200b ", ""),  # blank: nothing left
        (
            "long",
            "Replace it:\r\n\t- quotes\n\t- orders\n",
            "Replace it:\r\n\t- quotes\n\t- orders",
        ),
        ("long", "one\u2028two", "one\u2028two"),
        ("optional long", "\n\t\u2060\n", ""),
        ("optional long", "", ""),
    ],
)
def test_a_text_is_kept_stripped(kind: str, sent: str, kept: str) -> None:
    assert TEXTS[kind].validate_python(sent) == kept


BLANK = "must not be blank (white space or invisible characters only)"
BIDI = "must not contain a bidirectional control character"
CONTROL = "must not contain a control character"
LONE_CR = r"must break lines with \n or \r\n (a lone \r)"


@pytest.mark.parametrize(
    ("kind", "sent", "why"),
    [
        ("short", "", BLANK),
        ("short", " \u200b\u2060\ufeff\U000e0041 ", BLANK),
        ("short", "\u202e", f"{BIDI} (U+202E)"),
        ("short", "Invoice \u202eFDP.exe", f"{BIDI} (U+202E)"),
        ("short", "x\u2066y\u2069", f"{BIDI} (U+2066)"),
        ("short", "New\x00CRM", f"{CONTROL} (U+0000)"),
        ("short", "New\tCRM", f"{CONTROL} (U+0009)"),
        ("short", "New\x85CRM", f"{CONTROL} (U+0085)"),
        ("short", "New CRM\n", "must be one line"),
        ("short", "New\r\nCRM", "must be one line"),
        ("short", "New\u2028CRM", "must be one line"),
        ("short", "x" * 21, "String should have at most 20 characters"),
        ("short", " " * 20 + "x", "String should have at most 20 characters"),  # as sent
        ("optional short", "a\x7fb", f"{CONTROL} (U+007F)"),
        ("long", "\n\u200b\r\n", BLANK),
        ("long", "a\rb", LONE_CR),
        ("long", "a\r\r\nb", LONE_CR),
        ("long", "page\x0cbreak", f"{CONTROL} (U+000C)"),
        ("long", "bell\x07", f"{CONTROL} (U+0007)"),
        ("long", "\u200fx", f"{BIDI} (U+200F)"),
        ("optional long", "\x00", f"{CONTROL} (U+0000)"),
        ("optional long", "\u061c", f"{BIDI} (U+061C)"),
    ],
)
def test_a_text_that_is_not_text_is_refused_saying_why(kind: str, sent: str, why: str) -> None:
    assert refusal(TEXTS[kind], sent) == why


def test_any_text_is_anything_but_nul() -> None:
    assert ANY.validate_python(" \u202e\n\x07\u200b") == " \u202e\n\x07\u200b"
    assert "pattern" in refusal(ANY, "gina\x00")


def test_each_text_documents_its_pattern_and_lengths() -> None:
    assert Short.json_schema() == {
        "type": "string",
        "maxLength": 20,
        "minLength": 1,
        "pattern": SHORT_TEXT,
    }
    assert OptionalLong.json_schema() == {
        "type": "string",
        "maxLength": 40,
        "pattern": OPTIONAL_LONG_TEXT,
    }
    assert ANY.json_schema() == {"type": "string", "pattern": ANY_TEXT}


@functools.cache
def samples() -> list[str]:
    """Each character of the BMP alone and around others, past it the format characters, their
    neighbours and one in 256, and the line breaks the rules tell apart."""
    found = ["", "\r\n", "x\r\n", "a\r\nb", "a\rb", "\r\r\n", "x\n", "\n\n", "\t"]
    formats = in_class(FORMAT)
    for character in CHARACTERS:
        point = ord(character)
        near = "".join(map(chr, range(max(point - 1, 0), min(point + 2, sys.maxunicode + 1))))
        if point <= 0xFFFF or point % 256 == 0 or formats.search(near):
            found += [character, f"x{character}", f"{character}x", f"\u200b{character}\n"]
    return found


@pytest.mark.parametrize(
    ("pattern", "adapter"),
    [
        (SHORT_TEXT, Short),
        (OPTIONAL_SHORT_TEXT, OptionalShort),
        (LONG_TEXT, Long),
        (OPTIONAL_LONG_TEXT, OptionalLong),
        (ANY_TEXT, ANY),
    ],
    ids=["short", "optional short", "long", "optional long", "any"],
)
def test_the_documented_pattern_and_the_check_agree_in_every_reading(
    pattern: str, adapter: TypeAdapter[Any]
) -> None:
    """Python's ``re`` (which checks, and with which schemathesis draws), the contract tests'
    validator (Rust, ECMAScript's reading of ``$``) and the type itself accept the same texts."""
    python = re.compile(pattern)
    rust = jsonschema_rs.Draft202012Validator({"type": "string", "pattern": pattern})

    def accepted(text: str) -> bool:
        try:
            adapter.validate_python(text)
        except ValidationError:
            return False
        return True

    disagree = [
        text
        for text in samples()
        if not bool(python.search(text)) == rust.is_valid(text) == accepted(text)
    ]
    assert disagree == []


# --- Times ------------------------------------------------------------------------------------

At = TypeAdapter(Instant)


@pytest.mark.parametrize(
    ("sent", "utc"),
    [
        ("2027-03-01T09:00:00Z", datetime(2027, 3, 1, 9, tzinfo=UTC)),
        ("2027-03-01t10:00:00+01:00", datetime(2027, 3, 1, 9, tzinfo=UTC)),
        ("0001-01-02T00:00:00+23:59", datetime(1, 1, 1, 0, 1, tzinfo=UTC)),
        ("9999-12-30T23:59:59-23:59", datetime(9999, 12, 31, 23, 58, 59, tzinfo=UTC)),
    ],
)
def test_a_time_within_the_supported_dates_is_an_instant_in_utc(sent: str, utc: datetime) -> None:
    assert At.validate_python(sent).astimezone(UTC) == utc


@pytest.mark.parametrize(
    ("sent", "why"),
    [
        ("0001-01-01T00:00:00+14:00", "must lie from 0001-01-02 to 9999-12-30"),
        ("0001-01-01T00:00:00Z", "must lie from 0001-01-02 to 9999-12-30"),
        ("9999-12-31T23:59:59-14:00", "must lie from 0001-01-02 to 9999-12-30"),
        ("2027-03-01T09:00:00", "Input should have timezone info"),
        ("1700000000", "must be an RFC 3339 time"),
        ("2027-03-01 09:00:00Z", "must be an RFC 3339 time"),
        (1700000000, "must be an RFC 3339 time"),
        (datetime(9999, 12, 31, tzinfo=UTC), "must lie from 0001-01-02 to 9999-12-30"),
    ],
)
def test_a_time_off_the_calendar_or_not_rfc_3339_is_refused(sent: object, why: str) -> None:
    assert refusal(At, sent).startswith(why)


def test_a_time_is_documented_as_a_date_time_with_its_pattern() -> None:
    class Body(BaseModel):
        at: Instant | None = None

    assert Body.model_json_schema()["properties"]["at"]["anyOf"][0] == {
        "type": "string",
        "format": "date-time",
        "pattern": TIME,
    }


@pytest.mark.parametrize(
    "text",
    [
        "0001-01-01T00:00:00Z",
        "0001-01-02T00:00:00Z",
        "9999-12-30T00:00:00Z",
        "9999-12-31T00:00:00Z",
        "2027-03-01T09:00:00Z",
        "2027-03-01t09:00:00z",
        "2027-03-01 09:00:00Z",
        "x2027-03-01T09:00:00Z",
        "1700000000",
        "2027-03-01T09:00:00Z\n",
    ],
)
def test_the_time_pattern_reads_alike_in_python_and_the_contract_tests_validator(text: str) -> None:
    rust = jsonschema_rs.Draft202012Validator({"type": "string", "pattern": TIME})
    assert bool(re.search(TIME, text)) == rust.is_valid(text)
