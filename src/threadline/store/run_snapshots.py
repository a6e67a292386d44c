"""A run's config snapshot, kept out of its row: written once per run and upgrade.

A ``workflow_runs`` document carries its run's config snapshot at
``body["workflow_run"]["workflow_config_fully_hydrated"]`` (about 12 KB for a
small graph). Since schema version 17 the run row holds, in its place, a reference
``{"snapshot_ref": ref}``; the snapshot itself is a row of ``run_snapshots`` keyed
by ``(team_id, ref)``, ``ref`` being the SHA-256 of the snapshot's stored JSON (as
sealed: a secret sealed in the run row stays sealed there). Runs on the same
snapshot (one version's runs) share one row. A row of ``run_snapshots`` is never
rewritten, so this process keeps the ones it used last (``SnapshotMemo``), and
remembers which snapshot each of its recent runs is stored with: saving a run
whose snapshot is unchanged (every turn) writes the reference only, without
serialising, sealing or hashing the snapshot.

A run stored in the older shape (the snapshot in the row) reads as it is; its next
save moves the snapshot out. Migration 17 converts such rows.

The functions here are pure (no I/O); ``sql_snapshots`` reads and writes the rows.
"""

import hashlib
import json
import zlib
from collections import OrderedDict
from typing import Any, cast

JsonDict = dict[str, Any]

RECORD = "workflow_run"
FIELD = "workflow_config_fully_hydrated"
REF = "snapshot_ref"
"""The key of the reference that stands in the row for the snapshot."""


def snapshot_of(body: JsonDict) -> JsonDict | None:
    """The snapshot in a whole body (None: the body has none to move out)."""
    record = body.get(RECORD)
    if not isinstance(record, dict):
        return None
    snapshot = record.get(FIELD)
    if not isinstance(snapshot, dict) or ref_in(snapshot) is not None:
        return None
    return snapshot


def ref_in(value: Any) -> str | None:
    """The reference a stored field holds (None: not a reference)."""
    if isinstance(value, dict) and len(value) == 1:
        ref = value.get(REF)
        if isinstance(ref, str):
            return ref
    return None


def ref_of(body: JsonDict) -> str | None:
    """The reference a stored run row's body holds, if any."""
    record = body.get(RECORD)
    return ref_in(record.get(FIELD)) if isinstance(record, dict) else None


def with_field(body: JsonDict, value: Any) -> JsonDict:
    """``body`` (not changed) with the snapshot field set to ``value``, in place
    of the old one (the record's keys keep their order)."""
    record = cast(JsonDict, body[RECORD])
    return {**body, RECORD: {**record, FIELD: value}}


def stored_text(snapshot: JsonDict) -> str:
    """The snapshot as stored (compact JSON; keys in their order)."""
    return json.dumps(snapshot, separators=(",", ":"), ensure_ascii=False)


def ref_for(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def pack(text: str) -> bytes:
    return zlib.compress(text.encode(), 6)


def unpack(packed: bytes) -> str:
    return zlib.decompress(packed).decode()


Forms = list[JsonDict | str]
"""Copies of what is stored under one reference; a text is parsed when first
compared (a page of runs read is not parsed twice)."""


def matches(snapshot: JsonDict, forms: Forms) -> bool:
    """Whether ``snapshot`` equals one of ``forms`` (texts parsed in place)."""
    for i, form in enumerate(forms):
        if isinstance(form, str):
            form = forms[i] = json.loads(form)
        if snapshot == form:
            return True
    return False


class SnapshotMemo:
    """Stored snapshots by ``(team, ref)`` (their text), and the snapshot each
    recent run is stored with, by ``(team, run id)``: its reference and copies of
    the forms known to be stored under it (as read, and as last saved before
    sealing). Both are bounded (least recently used first out); what is kept is
    never handed out, only copies of it.
    """

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._texts: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._runs: OrderedDict[tuple[str, str], tuple[str, Forms]] = OrderedDict()

    def _put(self, held: "OrderedDict[Any, Any]", key: Any, value: Any) -> None:
        if self.size <= 0:
            return
        held[key] = value
        held.move_to_end(key)
        while len(held) > self.size:
            held.popitem(last=False)

    def text(self, team_id: str, ref: str) -> str | None:
        found = self._texts.get((team_id, ref))
        if found is not None:
            self._texts.move_to_end((team_id, ref))
        return found

    def put_text(self, team_id: str, ref: str, text: str) -> None:
        self._put(self._texts, (team_id, ref), text)

    def stored_ref(self, team_id: str, run_id: str, snapshot: JsonDict) -> str | None:
        """The reference ``snapshot`` is stored under for this run, when this
        process knows it is stored (None: it must be written)."""
        found = self._runs.get((team_id, run_id))
        if found is None:
            return None
        ref, forms = found
        if matches(snapshot, forms):
            self._runs.move_to_end((team_id, run_id))
            return ref
        return None

    def known_ref(self, team_id: str, run_id: str) -> str | None:
        """The reference this process knows the run is stored with."""
        found = self._runs.get((team_id, run_id))
        return None if found is None else found[0]

    def put_run(self, team_id: str, run_id: str, ref: str, forms: Forms) -> None:
        self._put(self._runs, (team_id, run_id), (ref, forms))

    def forget_run(self, team_id: str, run_id: str) -> None:
        self._runs.pop((team_id, run_id), None)
