"""Table definitions: the current shape of the database.

Document collections (workflows, versions, nodes, edges, tools, ...) share one layout:
a few indexed columns the API filters on, and the JSON ``body`` the wire format needs.
"""

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
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
    PrimaryKeyConstraint("run_id", "turn_index"),
    Index("ix_run_turns_team_run", "team_id", "run_id"),
)
"""One row per execution segment of a run: appended, never rewritten wholesale."""

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
