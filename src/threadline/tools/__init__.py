"""Tools the engine can call: the inbuilt catalogue (and, later, sandboxes and HTTP).

Must not import store, api or service.
"""
