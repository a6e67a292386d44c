"""An :class:`HttpCall` as a copy-pasteable, redacted curl command.

This is the ``curl_command`` of the ``http_request`` event and run output.
Headers in :data:`SENSITIVE_HEADERS` are always redacted, a URL password is
hidden, and every given secret value is replaced by ``[REDACTED]`` wherever it
appears, in every form the server itself writes it (:func:`secret_variants`). The
same redaction is applied to the error texts of :func:`threadline.tools.http.send`
and, through ``service.team.secrets``, to every event and stored state of a turn.
"""

import json
import shlex
from collections.abc import Collection, Iterable, Mapping
from urllib.parse import quote, quote_plus

import httpx

from threadline.tools.http_bodies import (
    build_url,
    encode_body,
    form_text,
    has_body,
    media_type,
)
from threadline.tools.http_call import (
    MULTIPART,
    REDACTED,
    SENSITIVE_HEADERS,
    HttpCall,
    HttpCallError,
    effective_timeout,
)

__all__ = ["curl_command", "redact_variants", "secret_variants"]


CASE_MIN = 8
"""Secrets at least this long are also redacted upper- and lower-cased."""


def _url_forms(secret: str) -> set[str]:
    """How httpx writes ``secret`` into a URL path and a query value."""
    forms: set[str] = set()
    try:
        path = httpx.URL("http://h").copy_with(path="/" + secret).raw_path
        forms.add(path.decode("ascii")[1:])
    except (httpx.InvalidURL, ValueError, UnicodeError):
        pass
    try:
        query = str(httpx.QueryParams({"k": secret}))
        forms.add(query[2:])
    except (ValueError, TypeError):
        pass
    return forms


def secret_variants(secret_values: Iterable[str]) -> list[str]:
    """Secrets in every form the server writes them, longest first.

    The text itself; URL-escaped (every reserved character, ``+`` for spaces, and
    the partial escaping httpx applies to a URL path or query value, which is what
    curl commands show); JSON-escaped (with and without ``\\u`` escapes); and,
    for secrets of at least :data:`CASE_MIN` characters, upper- and lower-cased
    (URL hosts are lower-cased; templates have ``upcase`` and ``downcase``).
    Shorter secrets keep their case: their case forms would hide ordinary words.
    """
    variants: set[str] = set()
    for secret in secret_values:
        if not secret:
            continue
        variants.update(
            {
                secret,
                quote(secret, safe=""),
                quote_plus(secret),
                json.dumps(secret, ensure_ascii=False)[1:-1],
                json.dumps(secret)[1:-1],
                *_url_forms(secret),
            }
        )
        if len(secret) >= CASE_MIN:
            variants.update({secret.lower(), secret.upper()})
    variants.discard("")
    return sorted(variants, key=lambda s: (-len(s), s))


def redact_variants(text: str, variants: list[str]) -> str:
    """``text`` with every one of ``variants`` (see :func:`secret_variants`) hidden."""
    for secret in variants:
        text = text.replace(secret, REDACTED)
    return text


def _curl_url(call: HttpCall) -> str:
    try:
        url = build_url(call)
    except HttpCallError:
        return call.url
    text = str(url)
    if url.password:
        userinfo = url.userinfo.decode("ascii")
        shown = f"{userinfo.split(':', 1)[0]}:{REDACTED}"
        text = text.replace(f"//{userinfo}@", f"//{shown}@", 1)
    return text


def _curl_body(call: HttpCall, method: str, has_type: bool) -> list[str]:
    if not has_body(call, method):
        return []
    media = media_type(call.content_type)
    if media == MULTIPART and isinstance(call.body, Mapping):
        args: list[str] = []
        for key, value in call.body.items():
            if isinstance(value, bytes):
                args += ["-F", f"{key}=@{key};type=application/octet-stream"]
            else:
                args += ["--form-string", f"{key}={form_text(value)}"]
        return args
    try:
        content, content_type = encode_body(call)
    except HttpCallError:
        content, content_type = form_text(call.body).encode("utf-8"), call.content_type
    header = [] if has_type else ["-H", f"Content-Type: {content_type}"]
    return [*header, "--data-raw", content.decode("utf-8", errors="replace")]


def _curl_headers(call: HttpCall, method: str) -> tuple[list[str], bool]:
    """``-H`` arguments for the user headers, and whether one sets Content-Type."""
    args: list[str] = []
    has_type = False
    for key, value in call.headers.items():
        name = str(key)
        if name.lower() == "host":
            continue
        if name.lower() == "content-type":
            if media_type(call.content_type) == MULTIPART and has_body(call, method):
                continue
            has_type = True
        shown = REDACTED if name.lower() in SENSITIVE_HEADERS else str(value)
        args += ["-H", f"{name}: {shown}"]
    return args, has_type


def curl_command(call: HttpCall, *, secret_values: Collection[str] = ()) -> str:
    """``call`` as a shell-quoted curl command, with secrets replaced by [REDACTED].

    Headers in :data:`SENSITIVE_HEADERS` are always redacted; any occurrence of a
    value in ``secret_values`` (also URL- or JSON-escaped) in the URL, a header
    or the body is replaced. Redirect following is not expressed (no ``-L``).
    """
    variants = secret_variants(secret_values)
    method = (call.method or "GET").upper()
    args = ["curl", "--head"] if method == "HEAD" else ["curl", "-X", method]
    args.append(_curl_url(call))
    headers, has_type = _curl_headers(call, method)
    args += headers
    args += _curl_body(call, method, has_type)
    args += ["--max-time", f"{effective_timeout(call):g}"]
    return " ".join(shlex.quote(redact_variants(arg, variants)) for arg in args)
