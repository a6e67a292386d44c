"""Running workflows: accepting commands, driving, recording and answering turns,
recovery, the reaper, streaming, re-runs and replay.

Modules, top to bottom (the "run core" contract keeps this order):

- ``recovery``: heartbeats, resuming the turns of dead processes;
- ``dbos_recovery``: resuming a dead worker's turns through DBOS;
- ``dbos_executor``: the optional DBOS executor of turns;
- ``reruns``: re-runs from a checkpoint turn, replay, re-run tokens;
- ``runs``: ``run_one_turn``, the Execute use case (a ``turns.TurnRequest`` in,
  the run and its turn out);
- ``run_commands``: a run's inbox and multitask policies (``accept``);
- ``turn_driver``: executing a run's commands one turn at a time (``drive``);
- ``turn_steps``: a turn's steps, replayed from the journal, then executed;
- ``node_execution`` and ``turn_journal``: one node executed; the step journal;
- ``turn_endings``: recording, refusing, interrupting or failing a turn;
- ``turn_answers``: what a waiting request gets (``wait_for``);

and beside them: ``ports`` (the executors' ports for a caller), ``run_reader``,
``costs`` (pricing LLM usage), ``run_records`` (reading and annotating stored
runs), ``streaming`` and ``broadcast`` (live frames and re-attach), ``reaper``
(failing stale runs).

May import every room but ``processes``.
"""
