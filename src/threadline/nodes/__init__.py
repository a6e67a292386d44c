"""Node executors: one module per node family, each doing the node's I/O.

Executors receive a ``NodeTask`` from the engine and the ports (LLM, HTTP, sandbox,
vendors, clock) and return a ``NodeResult``. Never import store, api or service.
"""
