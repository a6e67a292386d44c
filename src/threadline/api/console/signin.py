"""Signing in and out of the console with an API key."""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from threadline.api.console import session
from threadline.api.console.web import (
    FormDep,
    VisitorDep,
    form,
    page,
    redirect,
    same_origin,
    session_secret,
)
from threadline.api.deps import SettingsDep, StoreDep
from threadline.errors import ThreadlineError
from threadline.service.team import auth

router = APIRouter(include_in_schema=False)


def _local(target: str | None) -> str:
    """A ``next`` that stays inside the console (no open redirect)."""
    if (
        target
        and target.startswith("/ui/")
        and "//" not in target
        and "\\" not in target
    ):
        return target
    return "/ui/workflows"


@router.get("/")
async def root() -> Response:
    """The server's root opens the console."""
    return redirect("/ui/")


@router.get("/ui")
@router.get("/ui/")
async def home(_: VisitorDep) -> Response:
    """The console's home is the workflows list."""
    return redirect("/ui/workflows")


@router.get("/ui/login")
async def login_form(request: Request, next: str | None = None) -> Response:
    """The sign-in form: one field, ``api_key``."""
    return page(request, "login.html", next=_local(next), error=None)


@router.post("/ui/login")
async def login(request: Request, store: StoreDep, settings: SettingsDep) -> Response:
    """Check the key and start a session (an HttpOnly, SameSite=Strict cookie)."""
    fields = await form(request)
    target = _local(fields.get("next"))
    key = fields.get("api_key", "").strip()
    error = None
    if not same_origin(request):
        error = "This form came from another site."
    else:
        try:
            await auth.authenticate(store, f"Bearer {key}", None, None)
        except ThreadlineError:
            error = "That API key is unknown or revoked."
    if error is not None:
        return page(request, "login.html", 401, next=target, error=error)
    lifetime = int(settings.console_session_hours * 3600)
    token = session.issue(session_secret(request), auth.hash_key(key), lifetime)
    response = redirect(target)
    response.set_cookie(
        session.COOKIE,
        token,
        max_age=lifetime,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/ui/logout")
async def logout(request: Request, _: FormDep) -> Response:
    """End the session: the cookie is removed."""
    response = redirect("/ui/login", request)
    response.delete_cookie(session.COOKIE, path="/", httponly=True, samesite="strict")
    return response
