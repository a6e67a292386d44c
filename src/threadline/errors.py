"""The whole exception tree of Threadline.

    ThreadlineError                 code, status, message, details
    ├── BadRequest                  400  invalid_request
    │   └── GraphInvalid            400  workflow_invalid (carries every problem)
    ├── Unauthenticated             401  unauthenticated
    ├── Forbidden                   403  forbidden
    ├── NotFound                    404  not_found
    ├── Conflict                    409  conflict
    │   └── SecretKeyMissing        409  secret_key_not_set (no key to encrypt with)
    ├── Gone                        410  endpoint_removed (names the replacement)
    ├── PayloadTooLarge             413  payload_too_large
    ├── InvalidField                422  validation_error
    ├── AddressRefused              422  address_refused (the SSRF guard said no)
    ├── TooManyRequests             429  rate_limited
    └── ConfigError                 500  config_error (server misconfiguration)

Services raise these; ``api.app`` maps each to its HTTP status with one handler and
returns ``{"code", "message", "detail"}``. Codes are stable: clients may match on them.
"""

from typing import Any


class ThreadlineError(Exception):
    """Root of every error Threadline raises on purpose."""

    code = "error"
    status = 500

    def __init__(
        self, message: str, *, code: str | None = None, details: Any = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details


class BadRequest(ThreadlineError):
    """The request is well-formed JSON but asks for something impossible."""

    code = "invalid_request"
    status = 400


class GraphInvalid(BadRequest):
    """A workflow graph failed validation; ``details`` lists every problem."""

    code = "workflow_invalid"


class Unauthenticated(ThreadlineError):
    """No credentials, or credentials that are unknown or revoked."""

    code = "unauthenticated"
    status = 401


class Forbidden(ThreadlineError):
    """Credentials are valid but do not allow this (e.g. another team's header)."""

    code = "forbidden"
    status = 403


class NotFound(ThreadlineError):
    """The object does not exist for the caller's team."""

    code = "not_found"
    status = 404


class Conflict(ThreadlineError):
    """The request conflicts with the current state of an object."""

    code = "conflict"
    status = 409


class SecretKeyMissing(Conflict):
    """A secret would be stored and the server has no key to encrypt it with.

    The request is fine; the deployment cannot keep a secret
    (``THREADLINE_SECRET_KEY`` is not set), so nothing is stored.
    """

    code = "secret_key_not_set"


class Gone(ThreadlineError):
    """The endpoint was removed; the message names what replaces it."""

    code = "endpoint_removed"
    status = 410


class PayloadTooLarge(ThreadlineError):
    """The request body exceeds the configured limit."""

    code = "payload_too_large"
    status = 413


class InvalidField(ThreadlineError):
    """A field of the body or query has an invalid value."""

    code = "validation_error"
    status = 422


class AddressRefused(ThreadlineError):
    """The SSRF guard refused an outbound URL a tenant chose (a private address).

    Raised where a connection is about to be opened (the LLM clients' network
    layer), so callers can tell a refusal from a network failure and not retry.
    """

    code = "address_refused"
    status = 422


class TooManyRequests(ThreadlineError):
    """A limit is reached; retry later (``retry_after`` seconds, when known)."""

    code = "rate_limited"
    status = 429

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: Any = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message, code=code, details=details)
        self.retry_after = retry_after


class ConfigError(ThreadlineError):
    """The server's own configuration is invalid."""

    code = "config_error"
    status = 500
