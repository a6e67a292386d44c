"""LLM providers behind one narrow protocol (``providers.base.LLM``).

Must not import store, api or service. The engine never imports this package: node
executors receive an ``LLM`` through their ports.
"""
