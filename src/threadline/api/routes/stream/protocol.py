"""The WebSocket protocol of ``/workflow-runs/ws``: frames and close codes.

Once the socket is authenticated (``websocket``), the client sends JSON frames,
each a ``WorkflowRunInput`` plus ``workflow_id`` (``command``, ``run_by``,
``version_number`` as usual). Each frame runs one turn: its
``assistant_response_delta`` frames are sent as the text is produced, then every event
of the turn in order, each carrying ``workflow_run_id`` so the client learns the run.
The socket stays open while the run waits (``workflow_ready_for_input``): the next frame
continues the same run (a frame may name ``workflow_run_id`` itself; ``workflow_id`` may
then be left out). When the run is over (a terminal status: ``end_workflow`` or
``workflow_error``, or a ``stop``) the server closes with 1000.

A frame the service refuses (unknown workflow, a command that does not fit the
run, invalid input...) is answered by one frame ``{"type": "workflow_error",
"error_message", "code", "status", "details", "workflow_run_id"}`` and the socket
stays open for a corrected frame; the SDK treats it as terminal, as it should
for its one-frame streams. Close codes:

====  ==========================================================
1000  the run is over (or the client closed)
1007  a frame that is not a JSON object
1011  an internal error (the run is failed or released)
4001  authentication failed
4003  the key may not act as the ``teamid``/``uuid`` headers say
4006  a frame carried ``initial_state`` (a client never supplies run state)
4007  the frame's ``rerun_token`` is unknown, expired, already redeemed, or
      minted for another workflow or version (the reason says which)
====  ==========================================================

A frame with ``rerun_token`` (the SDK's ``stream(rerun_token=...)``, minted by
``POST /v1/workflow-runs/{id}/turns/{k}/rerun-token``) redeems it: the re-run
is created and becomes the socket's run. If the frame also carries user input
(non-empty ``node_run_inputs`` in ``thread_to_node_inputs``), that input runs as
the re-run's next turn, like any turn frame. Otherwise the server answers with
``{"type": "workflow_ready_for_input", "workflow_run_id", "thread_id": "0",
"active_companion_thread_ids", "status"}`` when the re-run waits for input, or
``end_workflow`` / ``workflow_error`` and a 1000 close when the checkpoint was
the end of the source run. The restored turns' events are not sent again (read
them with ``GET /v1/workflow-runs/{id}``).

Every frame of a turn carries ``seq``, the run's frame sequence number
(increasing; a transport may skip numbers). A client that lost its connection
re-attaches on a new socket with ``{"type": "attach", "workflow_run_id",
"after_seq"}`` (``after_seq`` the last ``seq`` it saw, 0 for everything still
buffered): the server answers ``{"type": "attached", "workflow_run_id",
"after_seq", "replay"}`` and then the frames after ``after_seq`` in order, live
ones included, until the run's turn ends (``replay: "buffer"``). When this
process no longer has them (the turn ran elsewhere, the buffer expired), it
waits for the turn to end and sends the stored last segment's events, without
``seq`` (``replay: "stored"``). Either way the socket then drives that run as
if it had started it. An unknown run, another team's run or a bad
``workflow_run_id`` / ``after_seq`` is answered with a ``workflow_error`` frame
(``not_found`` / ``validation_error``) and the socket stays open.
"""

from threadline.api.routes.common import JsonBody
from threadline.errors import ThreadlineError

CLOSE_NORMAL = 1000
CLOSE_INVALID_DATA = 1007
CLOSE_INTERNAL = 1011
CLOSE_UNAUTHENTICATED = 4001
CLOSE_FORBIDDEN = 4003
CLOSE_INITIAL_STATE = 4006
CLOSE_RERUN_TOKEN = 4007
MAX_CLOSE_REASON = 123

WS_ONLY = frozenset({"initial_state", "rerun_token", "workflow_run_id"})
"""Protocol fields that are not part of the turn's input."""


def error_frame(
    error: ThreadlineError, run_id: str | None, seq: int | None = None
) -> JsonBody:
    """The ``workflow_error`` frame that answers a refused frame."""
    frame: JsonBody = {
        "type": "workflow_error",
        "error_message": error.message,
        "code": error.code,
        "status": error.status,
        "details": error.details,
        "workflow_run_id": run_id,
    }
    if seq is not None:
        frame["seq"] = seq
    return frame


def refusal(frame: JsonBody) -> tuple[int, str] | None:
    """The close code and reason for a frame the protocol forbids, if any."""
    if frame.get("initial_state") is not None:
        return (
            CLOSE_INITIAL_STATE,
            "initial_state is never accepted from a client; "
            "the server is the only source of run state",
        )
    return None


def close_reason(text: str) -> str:
    """``text`` cut to what a WebSocket close frame carries (123 bytes)."""
    data = text.encode("utf-8", errors="replace")
    if len(data) <= MAX_CLOSE_REASON:
        return text
    return data[: MAX_CLOSE_REASON - 3].decode("utf-8", errors="ignore") + "..."


def has_user_input(frame: JsonBody) -> bool:
    """Whether a frame carries node run inputs (a user message) for some thread."""
    threads = frame.get("thread_to_node_inputs")
    if not isinstance(threads, dict):
        return False
    return any(
        isinstance(t, dict) and bool(t.get("node_run_inputs")) for t in threads.values()
    )
