"""The ``threadline`` command: serve, migrate, api-key.

Commands call service/, never store internals.
"""
