"""Run segments (``run_turns``) and the history rows of runs (``run_history``).

Portable SQLAlchemy Core, used through one live connection (one transaction).
"""

import builtins
import json
import zlib
from datetime import datetime
from typing import Any, cast

from sqlalchemy import JSON, delete, update
from sqlalchemy.ext.asyncio import AsyncConnection

from threadline.store import json_text, schema, segment_nodes, statements
from threadline.store.prepared import Statements

JsonDict = dict[str, Any]


def _pack_segment(body: JsonDict) -> bytes:
    """A segment as stored in ``run_turns.body_zlib``: zlib of compact UTF-8 JSON.

    orjson encodes it (``json_text.compact``: the bytes ``json.dumps`` wrote, in a
    tenth of the time). An 8 KB window (``wbits=13``) and ``memLevel=5`` compress
    a chat turn's segment as small as the defaults, with a fraction of zlib's
    set-up cost per call. Any zlib reader decompresses it (the window size is in
    the stream header).
    """
    packer = zlib.compressobj(6, zlib.DEFLATED, 13, 5)
    return packer.compress(json_text.compact(body)) + packer.flush()


def _unpack_segment(body: Any, packed: bytes | None) -> JsonDict:
    """A stored segment, packed (schema 8 on) or in the JSON column (older rows)."""
    if packed is not None:
        return cast(JsonDict, json.loads(zlib.decompress(packed)))
    return dict(body)


class SqlTurns:
    """Run segments in ``run_turns``: appended per turn, read back in order.

    Segments are written compressed (``body_zlib``, ``body`` left JSON ``null``);
    rows written before schema version 8 are read from ``body``.
    """

    def __init__(self, conn: AsyncConnection, run: Statements | None = None) -> None:
        self._conn = conn
        self._run = run if run is not None else Statements(conn)

    async def append(
        self,
        team_id: str,
        run_id: str,
        index: int,
        body: JsonDict,
        at: datetime,
        history: tuple[int, JsonDict] | None = None,
        *,
        later: bool = False,
    ) -> None:
        row = {
            "team_id": team_id,
            "run_id": run_id,
            "turn_index": index,
            "body": JSON.NULL,
            "body_zlib": _pack_segment(body),
            "created_at": at,
            "updated_at": at,
            "history_seq": None if history is None else history[0],
            "history_zlib": None if history is None else _pack_segment(history[1]),
        }
        stmt = statements.insert_into(schema.run_turns)
        if later:  # with the transaction's next write (``Statements.write_later``)
            await self._run.write_later(stmt, row)
            return
        await self._run.write(stmt, row)

    async def list(self, team_id: str, run_id: str) -> list[JsonDict]:
        params = {"k_team": team_id, "k_run": run_id}
        rows = await self._run.rows(statements.run_segments(), params)
        segments = [_unpack_segment(r["body"], r["body_zlib"]) for r in rows]
        if segment_nodes.references(segments):
            # Visited lists stored as references to the run's history rows.
            segment_nodes.expand(segments, await self._history_rows(team_id, run_id))
        return segments

    async def replace(
        self, team_id: str, run_id: str, index: int, body: JsonDict, at: datetime
    ) -> bool:
        t = schema.run_turns
        stmt = (
            update(t)
            .where(
                t.c.team_id == team_id, t.c.run_id == run_id, t.c.turn_index == index
            )
            .values(body=JSON.NULL, body_zlib=_pack_segment(body), updated_at=at)
        )
        return (await self._conn.execute(stmt)).rowcount > 0

    async def delete_run(self, team_id: str, run_id: str) -> int:
        h = schema.run_history
        await self._conn.execute(
            delete(h).where(h.c.team_id == team_id, h.c.run_id == run_id)
        )
        t = schema.run_turns
        stmt = delete(t).where(t.c.team_id == team_id, t.c.run_id == run_id)
        return (await self._conn.execute(stmt)).rowcount

    async def append_history(
        self, team_id: str, run_id: str, seq: int, body: JsonDict, at: datetime
    ) -> None:
        row = {
            "run_id": run_id,
            "seq": seq,
            "team_id": team_id,
            "body_zlib": _pack_segment(body),
            "created_at": at,
        }
        await self._run.write(statements.insert_into(schema.run_history), row)

    async def history(
        self, team_id: str, run_id: str, since: int = 0
    ) -> "builtins.list[JsonDict]":
        return [body for _, body in await self._history_rows(team_id, run_id, since)]

    async def _history_rows(
        self, team_id: str, run_id: str, since: int = 0
    ) -> "builtins.list[tuple[int, JsonDict]]":
        stmt = statements.run_history()
        params = {"k_team": team_id, "k_run": run_id, "k_since": since}
        rows = await self._run.rows(stmt, params)
        return [
            (int(r["seq"]), cast(JsonDict, json.loads(zlib.decompress(r["body_zlib"]))))
            for r in rows
        ]


__all__ = ["SqlTurns"]
