"""Replay-gated publishing: replaying recorded runs against a version.

A check replays the user inputs of a workflow's most recent finished runs against
one version, reusing the recorded model answers while the conversation follows
the recording and calling the model (never tools, HTTP or vendors) where it does
not, and reports per run and in sum what changed. With ``require_replay_check``
a version is activated only after a check of it passed
(``service.definitions.replay_gate``). See docs/replay-checks.md. The modules:

- ``requests``: asking for a check (choosing its runs), reading checks;
- ``worker``: the background worker (leased checks, progress stored per run);
- ``replayer``: one run replayed against the version;
- ``offline``: running a node without side effects, the model calls counted;
- ``compare``: paths, errors and tool calls of the recording and the replay.
"""
