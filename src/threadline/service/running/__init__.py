"""Running workflows: accepting commands, driving, recording and answering
turns, recovery, the reaper, streaming, re-runs and replay.
"""
