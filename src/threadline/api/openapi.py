"""The OpenAPI document, made to say what the service does.

FastAPI's generated schema declares its own 422 body (``HTTPValidationError``) and no
other error. Threadline answers every error with one envelope (``api/errors.py``),
so the document is rewritten once, when first asked for:

- ``components.schemas.Error`` is the envelope ``{code, message, detail, errors}``;
  it replaces every 422 and is each operation's ``default`` response;
- authenticated operations (those reading the ``teamid`` header) declare the
  ``bearer`` security scheme, 401 and 403; the ``Authorization`` header is the
  scheme's, not a parameter;
- an operation with parameters or a body declares 422, one with path parameters
  404, one with a body 413;
- the Server-Sent Events endpoints answer ``text/event-stream``;
- Threadline's extensions carry ``x-threadline-extension: true`` (operations set
  it through ``openapi_extra``; the extension models no operation names, such as
  the budget events, are added to ``components.schemas``).

:func:`allowed_methods` answers the ``Allow`` header of a 405 from the same paths.
"""

import re
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from threadline.config.events import BudgetExceededEvent, BudgetWarningEvent
from threadline.config.run_budget import RunBudget
from threadline.config.workflow import WorkflowConfig

JsonDict = dict[str, Any]
ERROR_REF = {"$ref": "#/components/schemas/Error"}
ERROR_SCHEMA: JsonDict = {
    "type": "object",
    "title": "Error",
    "description": "Every error: a stable code, a message naming the field or id.",
    "required": ["code", "message", "detail"],
    "properties": {
        "code": {"type": "string", "description": "Stable; clients may match it."},
        "message": {"type": "string"},
        "detail": {"type": "string", "description": "The message again."},
        "errors": {
            "description": "Per-field problems ({field, message, type}) or null.",
        },
    },
}
_DESCRIPTIONS = {
    "401": "No valid API key",
    "403": "The key does not allow this (another team's header)",
    "404": "Not found for the caller's team",
    "413": "Request body too large",
    "422": "Invalid parameter or body field",
    "default": "Any other error, in the same envelope",
}
EXTENSION = "x-threadline-extension"
"""Marks what Threadline adds to the Interactly API (operations and schemas)."""
EXTENSION_MODELS: tuple[type[BaseModel], ...] = (
    RunBudget,
    BudgetWarningEvent,
    BudgetExceededEvent,
)
"""Extension models published in ``components.schemas`` although no operation
names them: the run budget and the events it emits."""
EVENT_STREAMS = {
    ("/v1/workflow-runs/{run_id}/stream", "get"),
    ("/v1/workflows/{workflow_id}/execute/stream", "post"),
}


def _error(status: str) -> JsonDict:
    return {
        "description": _DESCRIPTIONS.get(status, "Error"),
        "content": {"application/json": {"schema": ERROR_REF}},
    }


def _is_authenticated(operation: JsonDict) -> bool:
    return any(
        p.get("in") == "header" and p.get("name") == "teamid"
        for p in operation.get("parameters", [])
    )


def _statuses(operation: JsonDict, path: str) -> list[str]:
    parameters = operation.get("parameters", [])
    statuses = []
    if _is_authenticated(operation):
        statuses += ["401", "403"]
    if "{" in path:
        statuses.append("404")
    if operation.get("requestBody"):
        statuses.append("413")
    if parameters or operation.get("requestBody"):
        statuses.append("422")
    return statuses


def _rewrite(operation: JsonDict, path: str, method: str) -> None:
    responses: JsonDict = operation.setdefault("responses", {})
    for status in [*_statuses(operation, path), "default"]:
        responses[status] = _error(status)
    if _is_authenticated(operation):
        operation["security"] = [{"bearer": []}]
        operation["parameters"] = [
            p
            for p in operation["parameters"]
            if not (p.get("in") == "header" and p.get("name") == "authorization")
        ]
    if (path, method) in EVENT_STREAMS:
        responses["200"] = {
            "description": "Server-Sent Events: deltas, events, then done",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }


def _workflow_extensions(schemas: JsonDict) -> None:
    """``WorkflowConfig`` with the settings Threadline adds (kept by the lenient
    config model): ``run_budget`` and ``require_replay_check``."""
    config = WorkflowConfig.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )
    for name, sub in config.pop("$defs", {}).items():
        schemas.setdefault(name, sub)
    schemas["WorkflowConfig"] = config
    properties = config.setdefault("properties", {})
    properties["run_budget"] = {
        "anyOf": [{"$ref": "#/components/schemas/RunBudget"}, {"type": "null"}],
        "description": "Budgets of every run of the workflow (docs/budgets.md).",
        EXTENSION: True,
    }
    properties["require_replay_check"] = {
        "anyOf": [{"type": "boolean"}, {"type": "null"}],
        "description": "Activate a version only after a replay check of it passed"
        " (docs/replay-checks.md).",
        EXTENSION: True,
    }


def build(app: FastAPI) -> JsonDict:
    """The app's OpenAPI document, rewritten as the module docstring says."""
    document = get_openapi(title=app.title, version=app.version, routes=app.routes)
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Error"] = ERROR_SCHEMA
    for model in EXTENSION_MODELS:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in schema.pop("$defs", {}).items():
            schemas.setdefault(name, sub)
        schemas[model.__name__] = {**schema, EXTENSION: True}
    _workflow_extensions(schemas)
    components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            _rewrite(operation, path, method)
    return document


def install(app: FastAPI, prefixes: tuple[str, ...]) -> None:
    """Serve :func:`build`'s document at ``/openapi.json`` (built once).

    ``prefixes``: where the versioned routes are mounted; the document shows the
    first, :func:`allowed_methods` knows them all.
    """

    def openapi() -> JsonDict:
        if app.openapi_schema is None:
            app.openapi_schema = build(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented hook
    app.state.route_prefixes = prefixes


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    body = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(body)


def _method_table(app: FastAPI) -> list[tuple[re.Pattern[str], tuple[str, ...]]]:
    table = getattr(app.state, "method_table", None)
    if table is not None:
        return list(table)
    first, *others = app.state.route_prefixes
    table = []
    for template, item in app.openapi().get("paths", {}).items():
        methods = tuple(m.upper() for m in item)
        table.append((_pattern(template), methods))
        if template.startswith(first + "/"):
            rest = template[len(first) :]
            table += [(_pattern(other + rest), methods) for other in others]
    app.state.method_table = table
    return table


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every method some route serves at ``path`` (the ``Allow`` of a 405)."""
    path = path.rstrip("/") or "/"
    found = {
        method
        for pattern, methods in _method_table(app)
        if pattern.fullmatch(path)
        for method in methods
    }
    return sorted(found)
