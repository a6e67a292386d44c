"""What every console page shares: templates, the signed-in caller, CSRF, errors."""

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

import jinja2
from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.requests import HTTPConnection

from threadline.api.console import session
from threadline.api.deps import StoreDep
from threadline.errors import ThreadlineError
from threadline.service.caller import Caller
from threadline.service.team import auth
from threadline.settings import Settings

HERE = Path(__file__).parent
templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=jinja2.ChainableUndefined,  # wire dicts vary: a missing key is blank
)


class SignInRequired(Exception):
    """Nobody is signed in: the page answers with a redirect to ``/ui/login``."""


class CsrfRefused(Exception):
    """A console write without the session's CSRF token (or from another origin)."""


@dataclass(frozen=True, slots=True)
class Visitor:
    """The signed-in person: the key's caller and the session's CSRF token."""

    caller: Caller
    csrf: str


def session_secret(conn: HTTPConnection) -> bytes:
    """The process's session signing secret (made once at start-up)."""
    secret: bytes = conn.app.state.console_secret
    return secret


async def socket_caller(conn: HTTPConnection) -> Caller | None:
    """The caller of a console session cookie on a same-origin WebSocket (the
    playground), or None: no cookie, a bad one, or another site's page."""
    found = session.verify(session_secret(conn), conn.cookies.get(session.COOKIE))
    if found is None or not same_origin(conn) or conn.headers.get("origin") is None:
        return None
    return await auth.caller_by_hash(conn.app.state.store, found.key_hash)


async def signed_in(request: Request, store: StoreDep) -> Visitor:
    """The visitor of a valid session cookie; else ``SignInRequired``."""
    found = session.verify(session_secret(request), request.cookies.get(session.COOKIE))
    if found is None:
        raise SignInRequired
    caller = await auth.caller_by_hash(store, found.key_hash)
    if caller is None:
        raise SignInRequired
    return Visitor(caller, found.csrf)


VisitorDep = Annotated[Visitor, Depends(signed_in)]


def same_origin(request: HTTPConnection) -> bool:
    """A write's ``Origin`` (when the browser sends one) is this server."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


async def form(request: Request) -> dict[str, str]:
    """The url-encoded form of a request (first value of each field)."""
    body = (await request.body()).decode("utf-8", "replace")
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


async def checked_form(request: Request, visitor: VisitorDep) -> dict[str, str]:
    """The form of a console write, after the CSRF check."""
    fields = await form(request)
    sent = request.headers.get(session.CSRF_HEADER) or fields.get(session.CSRF_FIELD)
    if not same_origin(request) or not session.csrf_ok(
        session.Session("", 0, visitor.csrf), sent
    ):
        raise CsrfRefused
    return fields


FormDep = Annotated[dict[str, str], Depends(checked_form)]


def page(
    request: Request, name: str, status: int = 200, **context: Any
) -> HTMLResponse:
    """Render template ``name`` with the common context."""
    html = templates.get_template(name).render(request=request, **context)
    return HTMLResponse(html, status_code=status)


def redirect(url: str, request: Request | None = None) -> Response:
    """Go to ``url`` (htmx requests get ``HX-Redirect``)."""
    if request is not None and request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def install(app: FastAPI, settings: Settings) -> None:
    """Set the session secret and the console's error pages on ``app``."""
    secret_key = settings.secret_key.get_secret_value() if settings.secret_key else None
    configured = settings.console_session_secret
    app.state.console_secret = session.derive_secret(
        configured.get_secret_value() if configured else None, secret_key
    )
    api_handler = app.exception_handlers[ThreadlineError]

    async def to_login(request: Request, _: Exception) -> Response:
        target = request.url.path
        if request.method == "GET" and target.startswith("/ui/"):
            return redirect("/ui/login?next=" + quote(target, safe="/"), request)
        return redirect("/ui/login", request)

    async def refused(request: Request, _: Exception) -> Response:
        message = "This form has expired or came from another site. Reload the page."
        return page(request, "error.html", 403, title="Refused", message=message)

    async def error(request: Request, exc: Exception) -> Response:
        if not request.url.path.startswith("/ui/") or not isinstance(
            exc, ThreadlineError
        ):
            answer = api_handler(request, exc)
            return answer if isinstance(answer, Response) else await answer
        return page(
            request, "error.html", exc.status, title=exc.code, message=exc.message
        )

    app.add_exception_handler(SignInRequired, to_login)
    app.add_exception_handler(CsrfRefused, refused)
    app.add_exception_handler(ThreadlineError, error)
