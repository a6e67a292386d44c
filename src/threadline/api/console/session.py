"""The console's session: a signed, expiring token in an HttpOnly cookie.

The token names the API key by its SHA-256 hash (the form the store keeps), never
the key itself, with an expiry and an HMAC over both. Each request re-reads the key,
so revoking it ends every session at once. The CSRF token of a session is another
HMAC of the same token, sent back in forms (``csrf_token``) and by htmx
(``X-CSRF-Token``).
"""

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

COOKIE = "threadline_console"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


def derive_secret(configured: str | None, secret_key: str | None) -> bytes:
    """The signing secret: the configured one, else derived from the secret key,
    else random for this process (sessions then end when it restarts)."""
    if configured:
        return hashlib.sha256(b"console-session:" + configured.encode()).digest()
    if secret_key:
        return hmac.new(secret_key.encode(), b"console-session", "sha256").digest()
    return secrets.token_bytes(32)


@dataclass(frozen=True, slots=True)
class Session:
    """A verified session: the key's hash and the token's CSRF companion."""

    key_hash: str
    expires_at: int
    csrf: str


def _mac(secret: bytes, text: str) -> str:
    return hmac.new(secret, text.encode(), "sha256").hexdigest()


def issue(secret: bytes, key_hash: str, lifetime_seconds: int) -> str:
    """A token for ``key_hash`` valid ``lifetime_seconds`` from now."""
    body = f"{key_hash}.{int(time.time()) + lifetime_seconds}"
    return f"{body}.{_mac(secret, body)}"


def verify(secret: bytes, token: str | None) -> Session | None:
    """The session a token stands for, or None (forged, malformed or expired)."""
    parts = (token or "").split(".")
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    key_hash, expiry, mac = parts
    body = f"{key_hash}.{expiry}"
    if not hmac.compare_digest(mac, _mac(secret, body)):
        return None
    if int(expiry) < time.time():
        return None
    return Session(key_hash, int(expiry), _mac(secret, "csrf:" + body + mac))


def csrf_ok(session: Session, sent: str | None) -> bool:
    """Whether ``sent`` is the session's CSRF token."""
    return bool(sent) and hmac.compare_digest(session.csrf, sent or "")
