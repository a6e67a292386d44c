"""The store's record types and the ``Store`` protocol every implementation meets."""

from collections.abc import Collection, Mapping
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


class Documents(Protocol):
    """CRUD on one document collection, always scoped to a team."""

    async def insert(self, doc: Document) -> None: ...
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
    ) -> bool: ...


class Turns(Protocol):
    """The execution segments of runs, one row each, in order."""

    async def append(
        self, team_id: str, run_id: str, index: int, body: JsonDict, at: datetime
    ) -> None: ...
    async def list(self, team_id: str, run_id: str) -> list[JsonDict]: ...
    async def replace(
        self, team_id: str, run_id: str, index: int, body: JsonDict, at: datetime
    ) -> bool: ...
    async def delete_run(self, team_id: str, run_id: str) -> int: ...


class Transaction(Protocol):
    """A unit of work: everything done through it commits or rolls back together."""

    def documents(self, kind: str) -> Documents: ...
    def turns(self) -> Turns: ...
    async def add_api_key(self, key: ApiKey) -> None: ...
    async def find_api_key(self, key_hash: str) -> ApiKey | None: ...
    async def list_api_keys(self, team_id: str | None) -> list[ApiKey]: ...
    async def revoke_api_key(self, key_id: str, at: datetime) -> bool: ...
    async def set_favorite(
        self, team_id: str, user_id: str, workflow_id: str, at: datetime | None
    ) -> None: ...
    async def favorite_ids(self, team_id: str, user_id: str) -> set[str]: ...
    async def lock(self, key: str) -> None:
        """Hold an exclusive lock named ``key`` until this transaction ends.

        Transactions locking the same key run one after the other, across
        processes; reads after the lock see what earlier holders committed.
        """
        ...


class Store(Protocol):
    """A database holding every team's definitions and runs."""

    dialect: str

    def begin(self) -> AbstractAsyncContextManager[Transaction]: ...
    async def migrate(self) -> int: ...
    async def close(self) -> None: ...
