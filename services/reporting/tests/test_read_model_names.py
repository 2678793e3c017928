"""Every name a rebuild gives its shadow tables fits PostgreSQL's identifiers (63 bytes)."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateIndex, CreateTable

from reporting.rebuild import SUFFIX
from reporting.tables import LIVE

# The fault tests' audit rebuilds into ``<table>__audit`` and shadows that in turn.
LONGEST_SHADOW = LIVE.shadow("__audit").shadow(SUFFIX)


def test_the_shadow_tables_and_their_indexes_compile_for_postgresql() -> None:
    dialect = postgresql.dialect()
    for table in LONGEST_SHADOW.tables:
        CreateTable(table).compile(dialect=dialect)  # raises on a name over 63 characters
        for index in table.indexes:
            assert len(str(index.name)) <= dialect.max_identifier_length, index.name
            CreateIndex(index).compile(dialect=dialect)
