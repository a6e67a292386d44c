"""Runs' config snapshots in ``run_snapshots`` (format: ``store.run_snapshots``).

Used by ``SqlDocuments`` for the ``workflow_runs`` table: a run written has its
snapshot moved out (``stow``), a run read has it put back (``join``). What this
learns about stored snapshots goes to the store's ``SnapshotMemo`` only once the
transaction committed (``Pending``): a rolled-back write must not be taken for
a stored one.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import insert as portable_insert
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from threadline.store import run_snapshots as snap
from threadline.store import schema
from threadline.store.base import Document, Sealer
from threadline.store.run_snapshots import Forms, SnapshotMemo, matches

JsonDict = dict[str, Any]

RUNS = "workflow_runs"
_READ_CHUNK = 500
"""References a ``SELECT`` asks for at most (a page of runs on many snapshots)."""


@dataclass
class Pending:
    """What one transaction learnt, applied to the memo after its commit."""

    texts: dict[tuple[str, str], str] = field(default_factory=dict)
    runs: dict[tuple[str, str], tuple[str, Forms]] = field(default_factory=dict)

    def apply(self, memo: SnapshotMemo) -> None:
        for (team_id, ref), text in self.texts.items():
            memo.put_text(team_id, ref, text)
        for (team_id, run_id), (ref, forms) in self.runs.items():
            memo.put_run(team_id, run_id, ref, forms)


def insert_missing(conn: AsyncConnection, row: JsonDict) -> Any:
    """``INSERT`` of a ``run_snapshots`` row that does nothing when it exists."""
    table = schema.run_snapshots
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).values(row).on_conflict_do_nothing()
    if conn.dialect.name == "sqlite":
        return sqlite.insert(table).values(row).on_conflict_do_nothing()
    return portable_insert(table).values(row)  # pragma: no cover


class SqlSnapshots:
    """The snapshot side of ``workflow_runs`` writes and reads, in one transaction."""

    def __init__(
        self,
        conn: AsyncConnection,
        memo: SnapshotMemo,
        pending: Pending,
        sealer: Sealer | None,
    ) -> None:
        self._conn = conn
        self._memo = memo
        self._pending = pending
        self._sealer = sealer

    def _text(self, team_id: str, ref: str) -> str | None:
        found = self._pending.texts.get((team_id, ref))
        return found if found is not None else self._memo.text(team_id, ref)

    def _stored_ref(self, doc: Document, snapshot: JsonDict) -> str | None:
        found = self._pending.runs.get((doc.team_id, doc.id))
        if found is not None:
            ref, forms = found
            return ref if matches(snapshot, forms) else None
        return self._memo.stored_ref(doc.team_id, doc.id, snapshot)

    def _sealed(self, snapshot: JsonDict) -> JsonDict:
        if self._sealer is None:
            return snapshot
        body = self._sealer(RUNS, {snap.RECORD: {snap.FIELD: snapshot}})
        return cast(JsonDict, body[snap.RECORD][snap.FIELD])

    async def stow(self, doc: Document) -> Document:
        """``doc`` as its row is written: the snapshot stored (when this process
        does not know it is already) and a reference in its place."""
        snapshot = snap.snapshot_of(doc.body)
        if snapshot is None:
            return doc
        ref = self._stored_ref(doc, snapshot)
        if ref is None:
            sealed = self._sealed(snapshot)
            text = snap.stored_text(sealed)
            ref = snap.ref_for(text)
            if self._text(doc.team_id, ref) is None:
                row = {
                    "team_id": doc.team_id,
                    "ref": ref,
                    "body_zlib": snap.pack(text),
                    "created_at": datetime.now(UTC),
                }
                await self._conn.execute(insert_missing(self._conn, row))
            forms: Forms = [text]
            if sealed is not snapshot:
                forms.append(json.loads(snap.stored_text(snapshot)))
            self._pending.texts[(doc.team_id, ref)] = text
            self._pending.runs[(doc.team_id, doc.id)] = (ref, forms)
        return replace(doc, body=snap.with_field(doc.body, {snap.REF: ref}))

    async def join(self, docs: Sequence[Document]) -> list[Document]:
        """``docs`` as read, each with its snapshot back in place of its reference."""
        refs = {(d.team_id, r) for d in docs if (r := snap.ref_of(d.body))}
        texts = {key: t for key in refs if (t := self._text(*key)) is not None}
        missing = refs - texts.keys()
        if missing:
            texts.update(await self._read(missing))
        out = []
        for doc in docs:
            ref = snap.ref_of(doc.body)
            if ref is None:
                out.append(doc)
                continue
            text = texts.get((doc.team_id, ref))
            if text is None:
                raise LookupError(f"run {doc.id}: its config snapshot {ref} is gone")
            self._learn(doc, ref, text)
            body = snap.with_field(doc.body, json.loads(text))
            out.append(replace(doc, body=body))
        return out

    def _learn(self, doc: Document, ref: str, text: str) -> None:
        key = (doc.team_id, doc.id)
        self._pending.texts.setdefault((doc.team_id, ref), text)
        known = self._pending.runs.get(key)
        ref_known: str | None
        ref_known = self._memo.known_ref(*key) if known is None else known[0]
        if ref_known != ref:
            self._pending.runs[key] = (ref, [text])

    async def _read(self, keys: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
        t = schema.run_snapshots
        found: dict[tuple[str, str], str] = {}
        by_team: dict[str, list[str]] = {}
        for team_id, ref in keys:
            by_team.setdefault(team_id, []).append(ref)
        for team_id, refs in by_team.items():
            refs.sort()
            for start in range(0, len(refs), _READ_CHUNK):
                stmt = select(t.c.ref, t.c.body_zlib).where(
                    t.c.team_id == team_id,
                    t.c.ref.in_(refs[start : start + _READ_CHUNK]),
                )
                for ref, packed in (await self._conn.execute(stmt)).all():
                    found[(team_id, ref)] = snap.unpack(packed)
        return found
