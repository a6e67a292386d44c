"""Simulations: a counter workflow plays the user against a selected workflow.

Modules and their public names:

- ``configs``: simulation configs (CRUD, ``schema``, the operator's
  ``SimulationLimits``).

The rooms it may import: ``automation`` (evaluations), ``team`` (admission),
``definitions``, ``turns``, ``runtime``, ``caller``. Runs are started and continued
through the ``turns.StartRun`` it is given (``processes`` binds
``running.runs.run_one_turn``), never by importing the running room.
"""
