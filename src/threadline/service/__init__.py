"""Use cases shared by the API, the CLI and the worker: the imperative shell.

Services talk to ``store`` through its protocol, validate with ``config`` and
``engine``, and raise ``threadline.errors``; they never raise HTTP exceptions.

The rooms, each importing only the ones below it (the "Service rooms" contract in
``pyproject.toml``; ARCHITECTURE.md draws the map):

- ``processes``: what every process sets up and runs (the runtime, the loops);
  the one place that hands ``running.runs.run_one_turn`` to the rooms below;
- ``running``: accepting commands, driving, recording and answering turns,
  recovery, the reaper, streaming, re-runs and replay;
- ``automation``: schedules, the start queue, evaluation runs (they start runs
  through the ``turns.StartRun`` they are given) and webhook deliveries;
- ``reuse``: templates, node libraries, super nodes;
- ``team``: API keys, admission limits, credentials, global variables and
  secrets, saved LLM configs;
- ``definitions``: workflows, versions, parts, bundles, diffs, catalogues;
- ``webhooks``: outbound webhooks, recorded (the events that changes record);
- ``turns``, ``runtime``, ``caller``, ``commands``: what every room speaks: a
  turn request, the ports of a process, who is calling, the run status machine.
"""
