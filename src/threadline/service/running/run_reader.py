"""A team-scoped reader of stored runs, for ``workflow_run_fetch`` nodes."""

from typing import Any

from threadline.ids import is_object_id
from threadline.store import Store


class StoreRunReader:
    """Reads runs of one team from the store."""

    def __init__(self, store: Store, team_id: str) -> None:
        self._store = store
        self._team_id = team_id

    async def get_run(self, run_id: str) -> dict[str, Any] | None:
        """The run's ``WorkflowRun`` record, or None when the team has no such run."""
        if not is_object_id(run_id):
            return None
        async with self._store.begin() as tx:
            doc = await tx.documents("workflow_runs").get(self._team_id, run_id)
            if doc is None:
                return None
            pairs = await tx.turns().list(self._team_id, run_id)
        return {**doc.body["workflow_run"], "input_output_pairs": pairs}
