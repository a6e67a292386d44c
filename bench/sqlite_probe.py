"""What a SQLite database holds, read through a separate read-only connection.

Stdlib only: both sides of ``bench.compare`` use it (the project venv for
Threadline, the LangGraph venv for ``bench.langgraph_side``), so storage growth is
measured the same way for both engines.
"""

import sqlite3
from pathlib import Path
from typing import Any


class StorageProbe:
    """Sizes a live database (WAL included) without touching the writer."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)

    def snapshot(self) -> dict[str, int]:
        """Database bytes (pages in use, WAL included), rows and payload bytes.

        ``db_bytes`` is what the file holds once the WAL is checkpointed, minus
        free pages; ``payload_bytes`` adds up every stored value's length (text
        as UTF-8), so it does not depend on page fill or indexes.
        """
        db = self._db
        db.execute("BEGIN")  # one consistent snapshot for all the reads
        try:
            page_size = db.execute("PRAGMA page_size").fetchone()[0]
            pages = db.execute("PRAGMA page_count").fetchone()[0]
            free = db.execute("PRAGMA freelist_count").fetchone()[0]
            tables = [
                r[0]
                for r in db.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' "
                    "AND name NOT LIKE 'sqlite_%'"
                )
            ]
            rows = payload = 0
            for table in tables:
                cols = [r[1] for r in db.execute(f'PRAGMA table_info("{table}")')]
                summed = " + ".join(
                    f'coalesce(sum(length(CAST("{c}" AS BLOB))), 0)' for c in cols
                )
                count, size = db.execute(
                    f'SELECT count(*), {summed or 0} FROM "{table}"'
                ).fetchone()
                rows += int(count)
                payload += int(size)
        finally:
            db.execute("COMMIT")
        return {
            "db_bytes": (pages - free) * page_size,
            "rows": rows,
            "payload_bytes": payload,
        }

    def close(self) -> None:
        self._db.close()


def growth(before: dict[str, int], after: dict[str, int], turns: int) -> dict[str, Any]:
    """Per-turn growth between two snapshots."""
    return {
        "db_bytes_per_turn": round((after["db_bytes"] - before["db_bytes"]) / turns),
        "payload_bytes_per_turn": round(
            (after["payload_bytes"] - before["payload_bytes"]) / turns
        ),
        "rows_per_turn": round((after["rows"] - before["rows"]) / turns, 2),
        "db_bytes_after_run": after["db_bytes"],
    }


def remove_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
