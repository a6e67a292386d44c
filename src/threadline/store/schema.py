"""Table definitions: the current shape of the database.

Document collections (workflows, versions, nodes, edges, tools, ...) share one layout:
a few indexed columns the API filters on, and the JSON ``body`` the wire format needs.
"""

from sqlalchemy import (
    DDL,
    JSON,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    event,
)

metadata = MetaData()

ID = String(24)

DOCUMENT_KINDS = (
    "workflows",
    "workflow_versions",
    "nodes",
    "edges",
    "tools",
    "workflow_runs",
    "llm_configs",
    "team_settings",
    "global_variables",
    "webhook_subscriptions",
    "webhook_events",
    "webhook_attempts",
    "schedules",
    "workflow_templates",
    "node_libraries",
    "rerun_tokens",
    "simulations",
    "simulation_groups",
    "simulation_runs",
    "knowledge_bases",
    "kb_documents",
    "managed_prompts",
    "replay_checks",
)


def _document_table(name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("id", ID, primary_key=True),
        Column("team_id", ID, nullable=False),
        Column("workflow_id", ID, nullable=True),
        Column("version_number", Integer, nullable=True),
        Column("logical_id", String(200), nullable=True),
        Column("type", String(100), nullable=True),
        Column("name", Text, nullable=True),
        Column("status", String(40), nullable=True),
        Column("search_text", Text, nullable=False, default=""),
        Column("body", JSON, nullable=False),
        Column("created_by", String(100), nullable=True),
        Column("updated_by", String(100), nullable=True),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
        Index(f"ix_{name}_team_created", "team_id", "created_at"),
        Index(f"ix_{name}_team_workflow", "team_id", "workflow_id", "version_number"),
        Index(f"ix_{name}_team_status", "team_id", "status"),
    )


documents: dict[str, Table] = {kind: _document_table(kind) for kind in DOCUMENT_KINDS}

run_turns = Table(
    "run_turns",
    metadata,
    Column("run_id", ID, nullable=False),
    Column("turn_index", Integer, nullable=False),
    Column("team_id", ID, nullable=False),
    Column("body", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("body_zlib", LargeBinary, nullable=True),
    Column("history_seq", Integer, nullable=True),
    Column("history_zlib", LargeBinary, nullable=True),
    PrimaryKeyConstraint("run_id", "turn_index"),
    Index("ix_run_turns_team_run", "team_id", "run_id"),
)
"""One row per execution segment of a run: appended, never rewritten wholesale.

Since schema version 8 the segment is stored in ``body_zlib`` (zlib of compact UTF-8
JSON, about a quarter of the size) and ``body`` holds JSON ``null``; rows written
before keep their segment in ``body`` with ``body_zlib`` NULL. ``SqlTurns`` reads
both. (``body_zlib`` comes last: migration 8 appends it to existing tables.)

Since schema version 16 a segment may also carry row ``history_seq`` of its run's
``run_history`` (``history_zlib``, the same format): a turn that appends a segment
writes its history change in the same ``INSERT``; ``SqlTurns.history`` reads both
tables in ``seq`` order.
"""

run_history = Table(
    "run_history",
    metadata,
    Column("run_id", ID, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("team_id", ID, nullable=False),
    Column("body_zlib", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("run_id", "seq"),
)
"""The growing lists of runs' states (chat history, visited nodes), appended: one
row per save that changed them, zlib of compact JSON (``store.history_log``)."""

run_snapshots = Table(
    "run_snapshots",
    metadata,
    Column("team_id", ID, nullable=False),
    Column("ref", String(64), nullable=False),
    Column("body_zlib", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("team_id", "ref"),
)
"""Runs' config snapshots, written once and shared by the runs on the same one:
zlib of compact JSON, as sealed, keyed by its SHA-256 (``store.run_snapshots``)."""

definition_stamps = Table(
    "definition_stamps",
    metadata,
    Column("team_id", ID, primary_key=True),
    Column("stamp", Integer, nullable=False),
)
"""A counter per team, raised by the commit of every transaction that wrote one of
the team's workflow versions, nodes, edges, LLM configs or managed prompts
(``store.definition_stamps``): a process that cached a version's hydrated snapshot
knows it is still current when the stamp it reads in a later transaction is the
same."""

run_commands = Table(
    "run_commands",
    metadata,
    Column("id", ID, primary_key=True),
    Column("team_id", ID, nullable=False),
    Column("run_id", ID, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("status", String(20), nullable=False),
    Column("worker_id", String(64), nullable=True),
    Column("idempotency_key", String(255), nullable=True),
    Column("request_hash", String(64), nullable=True),
    Column("interrupt", Boolean, nullable=False, default=False),
    Column("body", JSON, nullable=False),
    Column("response", JSON, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("trace_context", String(512), nullable=True),
    Index("ix_run_commands_run", "run_id", "status", "seq"),
    Index("ix_run_commands_status", "status", "worker_id"),
    Index("ux_run_commands_key", "team_id", "idempotency_key", unique=True),
)
"""The runs' inboxes: each accepted command until its turn is done (and, with an
idempotency key or a waiter elsewhere, its answer)."""

run_steps = Table(
    "run_steps",
    metadata,
    Column("command_id", ID, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("team_id", ID, nullable=False),
    Column("body", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("command_id", "seq"),
)
"""The step journal of turns in flight: node results, replayed after a crash."""

workers = Table(
    "workers",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("heartbeat_at", DateTime(timezone=True), nullable=False),
)
"""Live processes (``serve`` and ``worker``), by heartbeat."""

leases = Table(
    "leases",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("holder", String(64), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)
"""Named leases: one holder at a time across processes (e.g. the reaper)."""

kb_chunks = Table(
    "kb_chunks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("team_id", ID, nullable=False),
    Column("kb_id", String(200), nullable=False),
    Column("document_id", ID, nullable=False),
    Column("position", Integer, nullable=False),
    Column("text", Text, nullable=False),
    Column("source", JSON, nullable=False),
    Column("embedding_model", String(200), nullable=True),
    Column("embedding", LargeBinary, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_kb_chunks_team_kb", "team_id", "kb_id"),
    Index("ix_kb_chunks_document", "team_id", "document_id", "position"),
)
"""The chunks of knowledge-base documents: text, source and position, and the
embedding (little-endian float32, the layout sqlite-vec reads) with its model.

Lexical search runs in the database: on SQLite the FTS5 table ``kb_chunks_fts``
(external content, kept in step by triggers); on PostgreSQL the generated
``tsv`` column and its GIN index. Both are created with the table (below)."""


def _ddl(statement: str, dialect: str) -> DDL:
    """A DDL statement run after ``kb_chunks`` is created, on one dialect."""
    ddl = DDL(statement)  # type: ignore[no-untyped-call]  # untyped in SQLAlchemy
    return ddl.execute_if(dialect=dialect)


for _statement in (
    "CREATE VIRTUAL TABLE kb_chunks_fts USING fts5(text, content='kb_chunks', "
    "content_rowid='id', tokenize='porter unicode61')",
    "CREATE TRIGGER kb_chunks_fts_insert AFTER INSERT ON kb_chunks BEGIN "
    "INSERT INTO kb_chunks_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER kb_chunks_fts_delete AFTER DELETE ON kb_chunks BEGIN "
    "INSERT INTO kb_chunks_fts(kb_chunks_fts, rowid, text) "
    "VALUES ('delete', old.id, old.text); END",
):
    event.listen(kb_chunks, "after_create", _ddl(_statement, "sqlite"))
for _statement in (
    "ALTER TABLE kb_chunks ADD COLUMN tsv tsvector "
    "GENERATED ALWAYS AS (to_tsvector('english', text)) STORED",
    "CREATE INDEX ix_kb_chunks_tsv ON kb_chunks USING gin (tsv)",
):
    event.listen(kb_chunks, "after_create", _ddl(_statement, "postgresql"))

kb_jobs = Table(
    "kb_jobs",
    metadata,
    Column("id", ID, primary_key=True),
    Column("team_id", ID, nullable=False),
    Column("kb_id", String(200), nullable=False),
    Column("status", String(20), nullable=False),
    Column("worker_id", String(64), nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("payload", LargeBinary, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_kb_jobs_status", "status", "lease_until"),
)
"""One ingestion job per knowledge-base document (``id`` is the document's),
written with the document: ``queued`` until a worker claims it (``running``,
leased until ``lease_until``); deleted when the document is ready or failed. A
lease that runs out (a crashed worker) makes the job claimable again."""

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", ID, primary_key=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("name", Text, nullable=True),
    Column("team_id", ID, nullable=False),
    Column("user_id", String(100), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

favorites = Table(
    "favorites",
    metadata,
    Column("team_id", ID, nullable=False),
    Column("user_id", String(100), nullable=False),
    Column("workflow_id", ID, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("team_id", "user_id", "workflow_id"),
)

schema_version = Table(
    "threadline_schema_version",
    metadata,
    Column("version", Integer, nullable=False),
)
