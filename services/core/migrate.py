"""Migration runner: ``migrations/NNNN_name.sql`` applied in order, each in its own transaction.

Applied migrations are recorded with a SHA-256 checksum; a migration whose file changed after it was
applied stops the runner, because silently diverging schemas are worse than a failed start.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import msgspec
import psycopg

from services.core.db import first_line
from services.core.errors import StartupError
from services.core.repo import migrations as repo

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# Any fixed number works; it only has to be the same in every process that migrates.
_LOCK_KEY = 0x0DEF_10E5


class Migration(msgspec.Struct, frozen=True):
    """One ``NNNN_name.sql`` file of ``migrations/``."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        """SHA-256 of the SQL, to detect a migration edited after it was applied."""
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files in order; :class:`StartupError` for a misnamed file or reused version."""
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise StartupError(f"migration file {path.name} is not named NNNN_name.sql")
        found.append(Migration(int(match.group(1)), path.name, path.read_text()))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise StartupError("two migration files share a version number")
    return found


def pending(url: str, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Names of the migrations not applied to the database at ``url`` yet."""
    with psycopg.connect(url, autocommit=True) as conn:
        applied = set(repo.select_applied(conn)) if repo.table_exists(conn) else set()
    return [m.name for m in discover(directory) if m.version not in applied]


def migrate(url: str, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply pending migrations; return the names applied. Safe to run from several processes."""
    migrations = discover(directory)
    applied_now: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        repo.lock(conn, _LOCK_KEY)
        try:
            repo.create_table(conn)
            applied = repo.select_applied(conn)
            for migration in migrations:
                if migration.version in applied:
                    name, checksum = applied[migration.version]
                    if checksum != migration.checksum:
                        raise StartupError(
                            f"migration {name} was changed after it was applied "
                            f"(recorded checksum {checksum[:12]}, file {migration.checksum[:12]}); "
                            "add a new migration instead of editing an applied one"
                        )
                    continue
                try:
                    with conn.transaction():
                        conn.execute(migration.sql.encode())
                        repo.insert_applied(
                            conn, migration.version, migration.name, migration.checksum
                        )
                except psycopg.Error as exc:
                    raise StartupError(
                        f"migration {migration.name} failed and was rolled back: {first_line(exc)}"
                    ) from None
                applied_now.append(migration.name)
        finally:
            repo.unlock(conn, _LOCK_KEY)
    return applied_now
