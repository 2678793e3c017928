"""Fresh, migrated test databases without running every Alembic revision for every test.

Most tests start a service on an empty database, and running its migrations took a large share
of the suite's time. :class:`MigratedDatabases` runs a service's real migrations once per
database kind and test session, then gives each later test the same result:

* **SQLite**: the migrated database file is copied.
* **PostgreSQL**: the statements the migration sent are recorded (the test schemas are set
  through ``search_path``, so they name no schema but the one they create, which is replaced)
  and replayed into the next fresh schema in one transaction.

The replayed schema is the migrated one (``tests/test_migrations.py`` runs the real revisions
against the models; ``shared/tests/test_migrated_databases.py`` compares a replay with a run).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url

from gatehouse.database import create_engine

__all__ = ["MigratedDatabases"]


class DatabaseSettings(Protocol):
    @property
    def database_url(self) -> str: ...

    @property
    def database_schema(self) -> str | None: ...


@dataclass(frozen=True)
class _Statement:
    sql: str
    parameters: Any
    many: bool


@dataclass
class _PostgresRecording:
    schema: str
    statements: list[_Statement] = field(default_factory=list)


_READ_ONLY = re.compile(r"^\s*(SELECT|SHOW)\b", re.IGNORECASE)


class MigratedDatabases:
    """Migrates test databases once per (migration, database kind), then copies or replays."""

    def __init__(self, templates_dir: Path) -> None:
        self._templates_dir = templates_dir
        self._sqlite_templates: dict[str, Path] = {}
        self._postgres_recordings: dict[str, _PostgresRecording] = {}
        self._lock = threading.Lock()

    def migrate(self, migrate: Callable[[Any], None], settings: DatabaseSettings) -> None:
        """What ``migrate(settings)`` does to the empty database ``settings`` names."""
        name = f"{migrate.__module__}.{migrate.__qualname__}"
        url = make_url(settings.database_url)
        with self._lock:
            if url.get_backend_name() == "sqlite":
                self._migrate_sqlite(name, migrate, settings, Path(str(url.database)))
            else:
                assert settings.database_schema, "PostgreSQL test databases use a fresh schema"
                self._migrate_postgres(name, migrate, settings, settings.database_schema)

    def _migrate_sqlite(
        self, name: str, migrate: Callable[[Any], None], settings: DatabaseSettings, path: Path
    ) -> None:
        template = self._sqlite_templates.get(name)
        if template is None:
            migrate(settings)
            template = self._templates_dir / f"{name}.db"
            shutil.copyfile(path, template)
            self._sqlite_templates[name] = template
        else:
            shutil.copyfile(template, path)

    def _migrate_postgres(
        self, name: str, migrate: Callable[[Any], None], settings: DatabaseSettings, schema: str
    ) -> None:
        recording = self._postgres_recordings.get(name)
        if recording is None:
            self._postgres_recordings[name] = _record(migrate, settings, schema)
            return
        statements = [
            _Statement(
                statement.sql.replace(recording.schema, schema),
                statement.parameters,
                statement.many,
            )
            for statement in recording.statements
        ]
        asyncio.run(_replay(settings.database_url, schema, statements))


def _record(
    migrate: Callable[[Any], None], settings: DatabaseSettings, schema: str
) -> _PostgresRecording:
    recording = _PostgresRecording(schema=schema)
    migrating = threading.get_ident()

    def keep(
        _connection: Any,
        _cursor: Any,
        statement: str,
        parameters: Any,
        _context: Any,
        executemany: bool,
    ) -> None:
        if threading.get_ident() == migrating and not _READ_ONLY.match(statement):
            recording.statements.append(_Statement(statement, parameters, executemany))

    event.listen(Engine, "before_cursor_execute", keep)
    try:
        migrate(settings)
    finally:
        event.remove(Engine, "before_cursor_execute", keep)
    return recording


async def _replay(url: str, schema: str, statements: Sequence[_Statement]) -> None:
    engine = create_engine(url, schema=schema, pool_size=1)
    try:
        async with engine.begin() as connection:
            for statement in statements:
                await connection.exec_driver_sql(statement.sql, statement.parameters)
    finally:
        await engine.dispose()
