"""Simulations: a counter workflow plays the user against a selected workflow.

Modules and their public names:

- ``configs``: simulation configs (CRUD, ``schema``, the operator's
  ``SimulationLimits``);
- ``groups``: a run of a config, a group of conversations (``run``, ``get``,
  ``list_for``, ``stop``);
- ``conversation``: one conversation, turn by turn (``step``, ``finish``);
- ``driver``: the background driver of groups (``Driver``: ``pass_once``,
  ``run_forever``), leased per group, resumable;
- ``results``: executions (``executions``, ``detailed``) and the evaluation
  ``summary``.

The rooms it may import: ``automation`` (evaluations), ``team`` (admission),
``definitions``, ``turns``, ``runtime``, ``caller``. Runs are started and continued
through the ``turns.StartRun`` it is given (``processes`` binds
``running.runs.run_one_turn``), never by importing the running room.
"""
