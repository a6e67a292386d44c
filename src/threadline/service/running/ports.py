"""The ports a turn's node executors use, built for one caller."""

from threadline.nodes.base import Ports
from threadline.service.caller import Caller
from threadline.service.running.observed_llm import ObservedLLM
from threadline.service.running.run_reader import StoreRunReader
from threadline.service.runtime import Runtime
from threadline.service.team.vendor_credentials import team_ports
from threadline.service.turns import Sink
from threadline.store import Store


def ports_for(
    store: Store,
    caller: Caller,
    runtime: Runtime,
    stream: Sink | None = None,
    secret_values: tuple[str, ...] = (),
) -> Ports:
    """The executors' ports for one caller (``stream`` gets live text deltas).

    The LLM and vendors use the team's vendor credentials when a node brings no key
    (``service.team.vendor_credentials``)."""
    llm, vendors = team_ports(store, caller.team_id, runtime.llm, runtime.vendors)
    return Ports(
        secret_values=secret_values,
        stream=stream,
        llm=ObservedLLM(llm, caller.team_id),
        clock=runtime.clock,
        team_id=caller.team_id,
        http_allow_private=runtime.http_allow_private,
        vendors=vendors,
        runs=StoreRunReader(store, caller.team_id),
        http_transport=runtime.http_transport,
        retriever=runtime.retriever,
        tool_ceilings=runtime.tool_ceilings,
        tool_slots=runtime.tool_slots,
    )
