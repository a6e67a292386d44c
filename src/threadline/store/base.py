"""The store's record types and the ``Store`` protocol every implementation meets."""

import builtins
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

JsonDict = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Document:
    """One stored document: audit fields, indexed columns and the JSON body."""

    id: str
    team_id: str
    body: JsonDict
    created_at: datetime
    updated_at: datetime
    created_by: str | None = None
    updated_by: str | None = None
    workflow_id: str | None = None
    version_number: int | None = None
    logical_id: str | None = None
    type: str | None = None
    name: str | None = None
    status: str | None = None
    search_text: str = ""


@dataclass(frozen=True, slots=True)
class Query:
    """Filters and paging for listing documents of one team."""

    equals: Mapping[str, Any] = field(default_factory=dict)
    """Exact matches on indexed columns (``workflow_id``, ``type``, ...)."""
    ids: tuple[str, ...] | None = None
    """Restrict to these document ids."""
    search: str | None = None
    """Case-insensitive substring of the document's search text."""
    start: datetime | None = None
    end: datetime | None = None
    page: int = 1
    size: int | None = None
    """Page size; None returns every match."""
    newest_first: bool = True


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored API key (the key itself is never stored, only its hash)."""

    id: str
    key_hash: str
    prefix: str
    team_id: str
    user_id: str
    created_at: datetime
    name: str | None = None
    revoked_at: datetime | None = None


class Duplicate(Exception):
    """An insert collided with a unique key (e.g. a reused idempotency key)."""


@dataclass(frozen=True, slots=True)
class Command:
    """One accepted command of a run (its inbox row) until its turn is done.

    ``status``: ``pending`` (queued behind a running turn), ``running`` (a worker
    executes it; ``worker_id`` says which), ``done`` (answer in ``response``),
    ``interrupted`` or ``failed``.
    """

    id: str
    team_id: str
    run_id: str
    seq: int
    status: str
    body: JsonDict
    created_at: datetime
    updated_at: datetime
    worker_id: str | None = None
    idempotency_key: str | None = None
    request_hash: str | None = None
    interrupt: bool = False
    response: JsonDict | None = None
    trace_context: str | None = None
    """The W3C ``traceparent`` of the request that sent the command: its turn,
    wherever and whenever it runs, joins that trace."""


@dataclass(frozen=True, slots=True)
class OperatorCounts:
    """Database-wide counts for the operator's gauges (every team)."""

    runs_by_status: dict[str, int]
    """Runs not in a terminal status, by status."""
    commands_pending: int
    """Commands queued behind a running turn."""
    starts_due: int
    """Scheduled and background starts due and waiting (the start queue)."""


@dataclass(frozen=True, slots=True)
class Chunk:
    """One chunk of a knowledge-base document (``id`` is given by the store)."""

    team_id: str
    kb_id: str
    document_id: str
    position: int
    text: str
    source: JsonDict
    created_at: datetime
    embedding_model: str | None = None
    embedding: bytes | None = None
    id: int | None = None


@dataclass(frozen=True, slots=True)
class IngestJob:
    """The ingestion job of one knowledge-base document (``id`` = the document's).

    ``status``: ``queued`` or ``running`` (held by ``worker_id`` until
    ``lease_until``); ``attempts`` counts the claims.
    """

    id: str
    team_id: str
    kb_id: str
    status: str
    created_at: datetime
    updated_at: datetime
    payload: bytes | None = None
    worker_id: str | None = None
    lease_until: datetime | None = None
    attempts: int = 0


Sealer = Callable[[str, JsonDict], JsonDict]
"""``(kind, body) -> body`` applied to every document body before it is written
(the service encrypts the secrets inside, ``service.team.sealing``); it may raise to
refuse the write."""


class Documents(Protocol):
    """CRUD on one document collection, always scoped to a team."""

    async def insert(self, doc: Document) -> None: ...
    async def insert_many(self, docs: Sequence[Document]) -> None:
        """Insert every document in one statement (a graph's nodes or edges)."""
        ...

    async def get(self, team_id: str, doc_id: str) -> Document | None: ...
    async def find(self, team_id: str, query: Query) -> tuple[list[Document], int]: ...
    async def replace(
        self, doc: Document, *, expected_status: str | None = None
    ) -> bool: ...
    async def find_stale(
        self, status: str, updated_before: datetime, limit: int
    ) -> list[Document]:
        """Documents of any team in ``status`` not updated since ``updated_before``
        (maintenance only, e.g. the reaper; never exposed to the API)."""
        ...

    async def delete(self, team_id: str, doc_id: str) -> bool: ...
    async def delete_where(self, team_id: str, equals: Mapping[str, Any]) -> int: ...
    async def count(
        self,
        team_id: str,
        equals: Mapping[str, Any],
        *,
        statuses: Collection[str] | None = None,
    ) -> int: ...
    async def set_status(
        self,
        team_id: str,
        doc_id: str,
        status: str | None,
        *,
        expected_status: str | None,
        at: datetime,
        by: str | None,
        expected_updated_at: datetime | None = None,
    ) -> bool:
        """Change only the status column, if it still is ``expected_status``
        (and, when given, ``updated_at`` still is ``expected_updated_at``)."""
        ...


class Turns(Protocol):
    """The execution segments of runs, one row each, in order."""

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
        """Append segment ``index``; with ``history``, ``(seq, change)``, it also
        carries that row of the run's history (read back by ``history``).
        ``later``: on PostgreSQL, sent with the transaction's next write (one
        statement), else before its commit."""
        ...

    async def list(self, team_id: str, run_id: str) -> list[JsonDict]: ...
    async def replace(
        self, team_id: str, run_id: str, index: int, body: JsonDict, at: datetime
    ) -> bool: ...
    async def delete_run(self, team_id: str, run_id: str) -> int:
        """Delete the run's segments and its ``run_history`` rows."""
        ...

    async def append_history(
        self, team_id: str, run_id: str, seq: int, body: JsonDict, at: datetime
    ) -> None:
        """Append row ``seq`` of the run's growing lists (``store.history_log``)."""
        ...

    async def history(
        self, team_id: str, run_id: str, since: int = 0
    ) -> "builtins.list[JsonDict]":
        """The run's history rows from ``since`` on, in order: those appended
        with ``append_history`` and those carried by segments."""
        ...


class Commands(Protocol):
    """The runs' inboxes (``Command`` rows) and their step journals."""

    async def insert(self, command: Command) -> None: ...
    async def get(self, command_id: str) -> Command | None: ...
    async def by_key(self, team_id: str, key: str) -> Command | None: ...
    async def next_seq(self, run_id: str) -> int: ...
    async def of_run(self, run_id: str, statuses: Collection[str]) -> list[Command]:
        """The run's commands in ``statuses``, in arrival order."""
        ...

    async def update(
        self,
        command_id: str,
        *,
        at: datetime,
        expected_worker: str | None = None,
        **values: Any,
    ) -> bool:
        """Set columns (``status``, ``worker_id``, ``body``, ``response``, ...);
        only while the row's worker is ``expected_worker`` when given."""
        ...

    async def delete(self, command_id: str) -> None: ...
    async def delete_owned(self, command_id: str, worker_id: str) -> bool:
        """Delete the command (not its journal) if ``worker_id`` owns it."""
        ...

    async def finish(
        self,
        command_id: str,
        worker_id: str,
        *,
        at: datetime,
        values: Mapping[str, Any] | None,
        forget_steps: bool,
    ) -> bool:
        """If ``worker_id`` owns the command: set ``values`` (and ``updated_at``)
        on it, or delete it when None; with ``forget_steps`` delete its journal
        too (whether owned or not: the caller rolls back when not). Whether it
        was owned. One statement on PostgreSQL."""
        ...

    async def orphans(self, dead_before: datetime, limit: int) -> list[Command]:
        """Running commands whose worker's last heartbeat is older than
        ``dead_before`` (or that have no live worker row and are that old)."""
        ...

    async def prune(self, done_before: datetime) -> int:
        """Forget finished commands (and their answers) older than that."""
        ...

    async def add_steps(
        self, command: Command, first_seq: int, bodies: list[JsonDict], at: datetime
    ) -> None: ...
    async def journal(
        self,
        command: Command,
        worker_id: str,
        first_seq: int,
        bodies: list[JsonDict],
        at: datetime,
    ) -> tuple[bool, bool]:
        """Journal ``bodies`` from ``first_seq`` on and touch the command's
        ``updated_at``, only while ``worker_id`` owns it (else nothing is
        written); return whether it did, and whether a pending command of the run
        asks for an interrupt. Alone in its unit: one statement on PostgreSQL."""
        ...

    async def steps(self, command_id: str) -> list[JsonDict]: ...
    async def delete_steps(self, command_id: str) -> None: ...


class Workers(Protocol):
    """Process liveness (heartbeats) and named leases."""

    async def heartbeat(self, worker_id: str, kind: str, at: datetime) -> None: ...
    async def remove(self, worker_id: str) -> None: ...
    async def live(self, since: datetime) -> list[str]: ...
    async def seen(self, worker_id: str) -> datetime | None:
        """When ``worker_id`` last recorded a heartbeat (None: no row, e.g. it
        signed off or never started)."""
        ...

    async def take_lease(
        self, name: str, holder: str, now: datetime, until: datetime
    ) -> bool:
        """Hold ``name`` until ``until`` if it is free, expired or already ours."""
        ...


class Knowledge(Protocol):
    """Knowledge-base chunks (with in-database full-text search) and the
    ingestion jobs; every call but ``claim_job`` is scoped to a team."""

    async def add_chunks(self, chunks: Sequence[Chunk]) -> None: ...
    async def delete_chunks(
        self, team_id: str, kb_id: str, document_id: str | None = None
    ) -> int:
        """The chunks of one document (or, without one, of the whole KB)."""
        ...

    async def count_chunks(self, team_id: str, kb_id: str) -> int: ...
    async def chunks(self, team_id: str, ids: Sequence[int]) -> list[Chunk]: ...
    async def lexical(
        self, team_id: str, kb_ids: Sequence[str], terms: Sequence[str], limit: int
    ) -> list[int]:
        """Ids of the chunks matching any of ``terms`` (plain words), best first,
        by the database's full-text ranking (FTS5 bm25, ``ts_rank``)."""
        ...

    async def nearest(
        self,
        team_id: str,
        kb_ids: Sequence[str],
        model: str,
        vector: Sequence[float],
        limit: int,
    ) -> list[int]:
        """Ids of the chunks embedded with ``model`` nearest to ``vector``
        (cosine), best first."""
        ...

    def vector_search(self) -> str:
        """How ``nearest`` searches: ``sqlite-vec``, ``pgvector`` or ``exact``."""
        ...

    async def add_job(self, job: IngestJob) -> None: ...
    async def get_job(self, team_id: str, job_id: str) -> IngestJob | None: ...
    async def claim_job(
        self, worker_id: str, now: datetime, until: datetime
    ) -> IngestJob | None:
        """Take the oldest job that is queued or whose lease ran out (any team):
        it becomes ``running``, held by ``worker_id`` until ``until``."""
        ...

    async def delete_job(
        self, team_id: str, job_id: str, worker_id: str | None = None
    ) -> bool:
        """Delete the job (only while ``worker_id`` holds it, when given)."""
        ...

    async def delete_jobs(self, team_id: str, kb_id: str) -> int: ...


class Transaction(Protocol):
    """A unit of work: everything done through it commits or rolls back together."""

    def documents(self, kind: str) -> Documents: ...
    def turns(self) -> Turns: ...
    def commands(self) -> Commands: ...
    def workers(self) -> Workers: ...
    def knowledge(self) -> Knowledge: ...
    async def add_api_key(self, key: ApiKey) -> None: ...
    async def find_api_key(self, key_hash: str) -> ApiKey | None: ...
    async def list_api_keys(self, team_id: str | None) -> list[ApiKey]: ...
    async def revoke_api_key(self, key_id: str, at: datetime) -> bool: ...
    async def set_favorite(
        self, team_id: str, user_id: str, workflow_id: str, at: datetime | None
    ) -> None: ...
    async def favorite_ids(self, team_id: str, user_id: str) -> set[str]: ...
    async def operator_counts(self, now: datetime) -> OperatorCounts:
        """Counts across every team, for ``/metrics`` (never shown to a team)."""
        ...

    async def definition_stamp(self, team_id: str) -> int:
        """The team's definition stamp: it changes with the commit of every write
        of the team's workflow versions, nodes, edges, LLM configs or managed
        prompts, from any process
        (``store.definition_stamps``). Read it before the rows it vouches for."""
        ...

    def reuse_snapshot(
        self, team_id: str, run_id: str, ref: str, stored: dict[str, Any]
    ) -> None:
        """The run ``run_id`` inserted next in this transaction has a config
        snapshot equal to ``stored`` (the caller's copy, never changed), which a
        committed transaction stored under ``ref``: its row gets the reference
        without the snapshot being serialised, hashed or written again."""
        ...

    def snapshot_ref(self, team_id: str, run_id: str) -> str | None:
        """The reference the run's snapshot was stored under in this transaction."""
        ...

    async def lock(self, key: str) -> None:
        """Hold an exclusive lock named ``key`` until this transaction ends.

        Transactions locking the same key run one after the other, across
        processes; reads after the lock see what earlier holders committed.
        """
        ...


class Store(Protocol):
    """A database holding every team's definitions and runs."""

    dialect: str

    def set_sealer(self, sealer: Sealer | None) -> None:
        """Pass every document body written from now on through ``sealer``."""
        ...

    def begin(self) -> AbstractAsyncContextManager[Transaction]: ...
    async def migrate(self) -> int: ...
    async def close(self) -> None: ...
