"""The ``threadline`` command: serve, migrate, api-key. Calls service/, never store internals."""
