"""Automation done in the background: schedules, the start queue, evaluation runs
and webhook deliveries.

Modules and their public names:

- ``schedules``: one-off and recurring schedules (CRUD), with ``schedule_times``
  (UTC, zones, cron occurrences), ``schedule_wire`` (bodies, ``render``) and
  ``schedule_queue`` (the collection as a queue of starts: ``team_queue``,
  ``position``, ``lock_key``);
- ``scheduler``: firing one claimed schedule exactly once (``claim``, ``fire``,
  ``give_back``, ``recover``, ``PassReport``);
- ``start_queue``: one fair pass over the starts waiting for a slot
  (``dispatch``);
- ``evaluations``: evaluation runs after a run (``schedule``, ``start_queued``),
  with ``evaluation_starts`` (starting the evaluator; refused starts queued) and
  ``evaluation_records`` (results written onto the source run);
- ``webhook_delivery``: sending recorded webhook events (``deliver_due``,
  ``deliver_forever``), with ``webhook_attempts`` (one attempt: ``deliver_one``,
  retries, ``backoff``; it opens sealed secrets) and ``webhook_requests`` (the
  request: body, signing, headers, the POST).

A start is a new run: these modules receive the ``turns.StartRun`` that makes one
(``running.runs.run_one_turn``, bound by ``processes`` and by the turn driver)
instead of importing the running room above them. May import: ``team``
(admission, secrets), ``definitions``, ``webhooks``, ``turns``, ``runtime``,
``caller``.
"""
