"""Identifiers: one form, compared in lower case; pseudonyms that stay the person's."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from gatehouse.auth import token_subject
from gatehouse.cli import main as gatehouse_cli
from gatehouse.errors import Unauthenticated
from gatehouse.identity import (
    IDENTIFIER_PATTERN,
    Identifier,
    Pseudonyms,
    identifier_problem,
    normalise_identifier,
)


class Body(BaseModel):
    who: Identifier


@pytest.mark.parametrize(
    "value",
    [
        "alice",
        "Alice",
        "erp@example.com",
        "auth0|5f1c",
        "svc-reporting_2",
        "user.name+tag@x.org",
        "apikey:0123456789abcdef",
        "0042",
        "a" * 200,
    ],
)
def test_identifiers_in_form_are_kept_in_lower_case(value: str) -> None:
    assert identifier_problem(value) is None
    assert normalise_identifier(value) == value.lower()
    assert Body(who=value).who == value.lower()
    assert token_subject(value) == value.lower()


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("", "blank"),
        ("   ", "blank"),
        ("a" * 201, "at most 200"),
        ("gina\u200b", "ASCII"),
        ("gina\u2060", "ASCII"),
        ("\ufeffgina", "ASCII"),
        ("g\u0456na", "ASCII"),
        ("\uff47\uff49\uff4e\uff41", "ASCII"),
        ("gine\u0301", "ASCII"),
        ("gi na", "start with a letter"),
        (" gina", "start with a letter"),
        ("gina\n", "start with a letter"),
        ("gina\x00", "start with a letter"),
        ("[erased]", "start with a letter"),
        ("[api-key 0123]", "start with a letter"),
        ("-gina", "start with a letter"),
        ("pd1.k1.AAAA", "sealed"),
        ("PD1.k1.AAAA", "sealed"),
    ],
)
def test_anything_else_is_refused_in_words(value: str, says: str) -> None:
    problem = identifier_problem(value)
    assert problem is not None
    assert says in problem
    with pytest.raises(ValidationError, match="an identifier"):
        Body(who=value)
    with pytest.raises(Unauthenticated, match="not a Gatehouse identifier"):
        token_subject(value)


@pytest.mark.parametrize("value", [None, 42, ["alice"], {"sub": "alice"}])
def test_a_token_subject_that_is_not_a_string_is_nobody(value: object) -> None:
    with pytest.raises(Unauthenticated):
        token_subject(value)


def test_the_document_shows_the_pattern_the_check_applies() -> None:
    schema = Body.model_json_schema()["properties"]["who"]
    assert schema == {
        "type": "string",
        "pattern": IDENTIFIER_PATTERN,
        "maxLength": 200,
        "title": "Who",
    }


def test_a_pseudonym_is_the_persons_whatever_the_case_and_names_nobody_without_the_key() -> None:
    ours, theirs = Pseudonyms(bytes(range(32))), Pseudonyms(bytes(range(1, 33)))
    assert ours.of("Sam") == ours.of("sam")
    assert ours.of("sam") != ours.of("sim")
    assert ours.of("sam") != theirs.of("sam")
    assert len(ours.of("sam")) == 32
    with pytest.raises(ValueError, match="at least 32 bytes"):
        Pseudonyms(b"short")


def test_the_development_issuer_mints_no_token_the_services_refuse(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        gatehouse_cli(["token", "--sub", "[erased]", "--role", "requester"])
    assert exited.value.code == 2
    assert "not a Gatehouse identifier" in capsys.readouterr().err
