"""A turn's step journal (``run_steps``): what a resumed turn replays.

Each node result is journaled before the next side effect starts, so a turn
resumed after a crash (``service.running.recovery``) replays its finished steps from
the journal and executes only the rest (``turn_steps``). Writing to the journal is
also the fence: it succeeds only while this worker still owns the command, and it
is where a newer command's interrupt stops the turn, between steps.
"""

from collections.abc import Awaitable, Callable
from typing import Any

from threadline.engine.steps import NodeTask
from threadline.nodes.registry import PURE_TYPES
from threadline.service.definitions import workflows as wf
from threadline.service.running.turn_answers import Lost
from threadline.service.runtime import Runtime
from threadline.service.team.secrets import redact
from threadline.store import Command, Store

JsonDict = dict[str, Any]


class Stop(Exception):
    """A pending command asked the running turn to stop."""


def has_effects(task: NodeTask) -> bool:
    """Whether running ``task`` may have a side effect (not a pure node)."""
    return task.purpose != "node" or task.node.get("type") not in PURE_TYPES


async def flush(
    store: Store,
    runtime: Runtime,
    command: Command,
    first: int,
    bodies: list[JsonDict],
    *,
    stop: bool = True,
) -> None:
    """Write journal entries, as long as this worker still owns the command; stop
    the turn when a newer command asks for it (``stop``: between steps only)."""
    at = wf.now()
    async with store.begin() as tx:  # one statement on PostgreSQL (pg_journal)
        owned, interrupt = await tx.commands().journal(
            command, runtime.worker_id, first, bodies, at
        )
    if not owned:
        raise Lost(command.id)
    if stop and interrupt:
        raise Stop


class Journal:
    """A turn's step journal: node results to replay and to write, and the side
    effects made inside a node (MCP tool calls, ``nodes.mcp_tools.Effects``).

    An effect is keyed by its node's place in the turn and its order inside the
    node; a resumed turn whose node asks the same call again (same server, tool
    and arguments) gets the journaled result, and the server is not called.
    """

    def __init__(
        self,
        store: Store,
        runtime: Runtime,
        command: Command,
        entries: list[JsonDict],
        hidden: tuple[str, ...],
    ) -> None:
        self.store, self.runtime, self.command = store, runtime, command
        self.hidden = hidden
        self.nodes = [e for e in entries if "effect" not in e]
        self.effects = {e["effect"]: e for e in entries if "effect" in e}
        self.written = len(entries)
        self.unwritten: list[JsonDict] = []
        self.step = 0
        self._ordinal = 0

    def begin(self, step: int) -> None:
        self.step, self._ordinal = step, 0

    async def flush(self, *, stop: bool = True) -> None:
        bodies, self.unwritten = self.unwritten, []
        await flush(
            self.store, self.runtime, self.command, self.written, bodies, stop=stop
        )
        self.written += len(bodies)

    async def once(
        self, call: JsonDict, run: Callable[[], Awaitable[JsonDict]]
    ) -> JsonDict:
        self._ordinal += 1
        key = f"{self.step}.{self._ordinal}"
        shown = redact(call, self.hidden)
        entry = self.effects.get(key)
        if entry is not None and entry.get("call") == shown:
            result: JsonDict = entry["result"]
            return result
        result = await run()
        self.unwritten.append(
            {"effect": key, "call": shown, "result": redact(result, self.hidden)}
        )
        await self.flush(stop=False)
        return result
