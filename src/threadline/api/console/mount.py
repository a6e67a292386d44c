"""Put the console on the app: its routers, static files and error pages."""

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from threadline.api.console import play, rerun, runs, signin, team, web, workflows
from threadline.settings import Settings


def install(app: FastAPI, settings: Settings) -> None:
    """Serve the console under ``/ui/`` (and redirect ``/`` there)."""
    web.install(app, settings)
    app.mount("/ui/static", StaticFiles(directory=web.HERE / "static"), "console")
    for module in (signin, play, workflows, runs, rerun, team):
        app.include_router(module.router)
