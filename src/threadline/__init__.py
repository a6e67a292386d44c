"""Threadline: an engine and HTTP service for conversational LLM-agent workflows.

The package speaks the Interactly Workflows API v1 on the wire. Sub-packages are
layered (see ARCHITECTURE.md): ``engine`` is pure, ``store`` persists, ``service``
holds use cases, ``api``/``cli``/``worker`` are thin entry points.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
