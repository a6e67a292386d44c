"""Automation started in the background: schedules, the start queue and
evaluation runs.
"""
