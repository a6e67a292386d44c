"""Use cases shared by the API, the CLI and the worker: the imperative shell.

Services talk to ``store`` through its protocol, validate with ``config`` and
``engine``, and raise ``threadline.errors``; they never raise HTTP exceptions.
"""
