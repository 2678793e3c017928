"""The request-body types' JSON Schema says what their validation does."""

from __future__ import annotations

import re
import sys
from typing import Annotated

from pydantic import StringConstraints, TypeAdapter

from gatehouse.json_types import NOT_BLANK


def test_not_blank_finds_a_character_exactly_where_stripping_leaves_one() -> None:
    """Every character: the documented pattern (Python's regular expressions, as the OpenAPI
    document's readers such as schemathesis run it) and pydantic's stripping agree."""
    stripped = TypeAdapter(Annotated[str, StringConstraints(strip_whitespace=True)])
    pattern = re.compile(NOT_BLANK)
    disagree = [
        f"U+{point:04X}" for point in range(sys.maxunicode + 1)
        if not 0xD800 <= point <= 0xDFFF  # lone surrogates are no text JSON can carry
        and bool(pattern.search(chr(point))) != bool(stripped.validate_python(chr(point)))]
    assert disagree == []
