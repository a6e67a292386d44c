"""Automation done in the background: schedules, the start queue, evaluation runs
and webhook deliveries.

Modules and their public names:

- ``schedules``: one-off and recurring schedules (CRUD, ``team_queue``,
  ``position``);
- ``scheduler``: firing one claimed schedule exactly once (``claim``, ``fire``,
  ``give_back``, ``recover``, ``PassReport``);
- ``start_queue``: one fair pass over the starts waiting for a slot
  (``dispatch``);
- ``evaluations``: evaluation runs after a run (``schedule``, ``start_queued``);
- ``webhook_delivery``: sending recorded webhook events (``deliver_due``,
  ``deliver_forever``; signing, retries; it opens sealed secrets).

A start is a new run: these modules receive the ``turns.StartRun`` that makes one
(``running.runs.run_one_turn``, bound by ``processes`` and by the turn driver)
instead of importing the running room above them. May import: ``team``
(admission, secrets), ``definitions``, ``webhooks``, ``turns``, ``runtime``,
``caller``.
"""
