"""Thin FastAPI routers over ``service``: parse the request, call a use case, render.

Must not import ``store`` implementations (only ``open_store``) or do business logic.
"""
