"""Undo what a monitor run created when it is refused at start-up, before its run was started.

The channel checks run before anything is created (README "Usage", "When no channel is left"); a
discovery channel can still fail between those checks and the run's start (a bootstrap name stops
resolving, a port is taken meanwhile). The refused run then leaves what existed before untouched and
removes only what it created itself: the SQLite database file and its ``-wal`` / ``-shm`` companions when
none existed before and the store holds no run, and the node key file when this run wrote it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from swarmscope.store.database import database_url, sqlite_file
from swarmscope.store.ledger.node_key import NodeKeyFile

SQLITE_COMPANIONS = ("", "-wal", "-shm")  # the database file and its WAL-mode companions (SQLite docs)


@dataclass(frozen=True, slots=True)
class NewFiles:
    """The store files a run would create: taken before the store is opened.

    Args:
        database: the SQLite file and companions that did not exist (empty when the database file
            existed, or for a server database such as PostgreSQL, which is never removed).
    """

    database: tuple[Path, ...]
    folders: tuple[Path, ...] = ()  # folders of the database file that did not exist, deepest first

    @classmethod
    def before_opening(cls, db: str) -> NewFiles:
        """Note which files (and folders) of the store ``db`` (path or URL) do not exist yet."""
        path = sqlite_file(database_url(db))
        if path is None or Path(path).exists():
            return cls(())
        missing = tuple(d for d in Path(path).absolute().parents if not d.exists())
        return cls(tuple(p for s in SQLITE_COMPANIONS if not (p := Path(path + s)).exists()), missing)

    def remove(self, key: NodeKeyFile) -> list[Path]:
        """Remove the files this run created (call after closing the store, when it holds no run).

        The node key file is removed only with a database this run created: an existing store has
        registered the new key in ``node_key`` (an append-only table), so its key file stays with it.

        Returns:
            The paths removed; a file already gone, or a folder not empty, is skipped. OSError: a file
            could not be removed.
        """
        created = [*self.database, *([key.path] if key.created and self.database else [])]
        removed = []
        for path in created:
            if path.exists():
                path.unlink()
                removed.append(path)
        for folder in self.folders:
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
                removed.append(folder)
        return removed
