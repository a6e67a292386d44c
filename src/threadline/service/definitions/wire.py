"""Validation of incoming configs against the wire contract (``threadline.config``).

Each function takes the raw JSON a client sent and returns the normalised JSON we
store: defaults filled in, unknown fields and unknown types kept unchanged.
"""

from typing import Any

from pydantic import BaseModel, ValidationError

from threadline import config
from threadline.config.run_budget import RunBudget
from threadline.errors import InvalidField

EDGE_TYPES = frozenset(t.value for t in config.EdgeType)


def field_errors(exc: ValidationError, prefix: str = "") -> list[dict[str, Any]]:
    """Flatten a pydantic error into ``[{field, message, type}]`` for the API."""
    out = []
    for err in exc.errors(include_url=False, include_context=False):
        path = ".".join(str(p) for p in (prefix, *err["loc"]) if p != "")
        out.append({"field": path, "message": err["msg"], "type": err["type"]})
    return out


def invalid(exc: ValidationError, what: str, prefix: str = "") -> InvalidField:
    """Build the 422 error for an invalid ``what``, naming the first bad field."""
    errors = field_errors(exc, prefix)
    first = errors[0] if errors else {"field": prefix, "message": "invalid"}
    message = f"invalid {what}: {first['field'] or '(body)'}: {first['message']}"
    return InvalidField(message, details=errors)


def _normalise(model: BaseModel) -> dict[str, Any]:
    return config.dump(model)


def _known_type(
    raw: Any, known: Any, what: str, prefix: str, default: str | None
) -> None:
    """Refuse a node or edge ``type`` the engine cannot execute (422, naming it)."""
    if not isinstance(raw, dict):
        raise InvalidField(f"{prefix or 'body'}: a {what} config must be an object")
    kind = raw.get("type", default)
    if kind not in known:
        field = f"{prefix}.type" if prefix else "type"
        names = ", ".join(sorted(known))
        raise InvalidField(
            f"{field}: unknown {what} type {kind!r}; expected one of: {names}",
            code=f"unknown_{what}_type",
            details=[
                {"field": field, "message": f"unknown {what} type", "type": "enum"}
            ],
        )


def node(raw: Any, prefix: str = "") -> dict[str, Any]:
    """Validate one node config; its ``type`` must be one the engine runs."""
    _known_type(raw, config.NODE_TYPES, "node", prefix, None)
    try:
        return _normalise(config.parse_node(raw))
    except ValidationError as exc:
        raise invalid(exc, "node config", prefix) from exc


def edge(raw: Any, prefix: str = "") -> dict[str, Any]:
    """Validate one edge config; its ``type`` (default ``direct``) must be known."""
    _known_type(raw, EDGE_TYPES, "edge", prefix, "direct")
    try:
        return _normalise(config.parse_edge(raw))
    except ValidationError as exc:
        raise invalid(exc, "edge config", prefix) from exc


def tool(raw: Any, prefix: str = "") -> dict[str, Any]:
    """Validate one tool config."""
    try:
        return _normalise(config.parse_tool(raw))
    except ValidationError as exc:
        raise invalid(exc, "tool config", prefix) from exc


def run_budget(raw: Any, prefix: str = "run_budget") -> dict[str, Any] | None:
    """A validated run budget with only the limits that are set (None: no budget);
    a bad value is a 422 naming the field (``run_budget.max_tokens``)."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise InvalidField(f"{prefix}: must be an object or null")
    try:
        model = RunBudget.model_validate(raw)
    except ValidationError as exc:
        raise invalid(exc, "run budget", prefix) from exc
    return model.model_dump(exclude_none=True) or None


def _with_budget(data: dict[str, Any], prefix: str) -> dict[str, Any]:
    if data.get("run_budget") is None:
        return data
    where = f"{prefix}.run_budget" if prefix else "run_budget"
    return {**data, "run_budget": run_budget(data["run_budget"], where)}


def workflow_config(raw: Any, prefix: str = "") -> dict[str, Any]:
    """Validate a workflow-level config (without nodes and edges)."""
    try:
        data = _normalise(config.WorkflowConfig.model_validate(raw))
    except ValidationError as exc:
        raise invalid(exc, "workflow config", prefix) from exc
    return _with_budget(data, prefix)


def is_hydrated(raw: Any) -> bool:
    """Tell a hydrated payload from a plain ``WorkflowConfig``."""
    return isinstance(raw, dict) and (
        isinstance(raw.get("node_configs"), list)
        or isinstance(raw.get("edge_configs"), list)
    )


_GRAPH_LISTS = ("node_configs", "edge_configs")
_GRAPH_MAPS = ("dynamic_variables", "runtime_variables")


def check_graph_shape(raw: Any, prefix: str = "") -> None:
    """Refuse (422 naming the field) a payload whose graph parts have the wrong
    JSON type: ``node_configs``/``edge_configs`` must be lists, the variable
    maps objects (each may be absent or null)."""
    if not isinstance(raw, dict):
        return
    dot = f"{prefix}." if prefix else ""
    for key in _GRAPH_LISTS:
        if raw.get(key) is not None and not isinstance(raw[key], list):
            raise InvalidField(f"{dot}{key}: must be a list of configs")
    for key in _GRAPH_MAPS:
        if raw.get(key) is not None and not isinstance(raw[key], dict):
            raise InvalidField(f"{dot}{key}: must be an object")


def parse_input(raw: Any, field: str) -> dict[str, Any]:
    """Validate a ``WorkflowRunInput`` (422 naming the bad field)."""
    try:
        model = config.WorkflowRunInput.model_validate(raw)
    except ValidationError as exc:
        raise invalid(exc, "run input", field) from exc
    data = config.dump(model)
    if data.get("run_budget") is not None and data.get("command") != "start":
        raise InvalidField(
            f"{field}.run_budget: only a start command sets a run's budget "
            f"(this is {data.get('command')!r})"
        )
    return _with_budget(data, field)
