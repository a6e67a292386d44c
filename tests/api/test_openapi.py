"""The OpenAPI schema describes what the service does, so clients and fuzzers can
trust it: error bodies, status codes, security and the ``Allow`` header of a 405."""

from typing import Any

import jsonschema_rs
import pytest

from tests.api.conftest import Team
from threadline.api.app import create_app
from threadline.ids import new_object_id
from threadline.settings import Settings

SCHEMA = create_app(Settings(database_url="sqlite+aiosqlite://")).openapi()
OPERATIONS = [
    (method, path, operation)
    for path, item in SCHEMA["paths"].items()
    for method, operation in item.items()
]


BROKEN_GRAPH = {
    "name": "x",
    "node_configs": [{"type": "no_op", "logical_id": "node_a", "is_start": True}],
    "edge_configs": [
        {"source_node_logical_id": "node_a", "destination_node_logical_id": "nope"}
    ],
}


def _validator(reference: dict[str, Any]) -> Any:
    """A validator of one response schema, with the document's components."""
    return jsonschema_rs.validator_for(
        {**reference, "components": SCHEMA["components"]}
    )


def _response_schema(method: str, path: str, status: int) -> dict[str, Any]:
    responses = SCHEMA["paths"][path][method]["responses"]
    response = responses.get(str(status)) or responses["default"]
    schema: dict[str, Any] = response["content"]["application/json"]["schema"]
    return schema


def test_fastapis_validation_error_shape_is_not_declared():
    assert "HTTPValidationError" not in SCHEMA["components"]["schemas"]
    assert "ValidationError" not in SCHEMA["components"]["schemas"]


@pytest.mark.parametrize(
    ("method", "path", "operation"),
    OPERATIONS,
    ids=[f"{m.upper()} {p}" for m, p, _ in OPERATIONS],
)
def test_every_operation_declares_its_errors_as_the_envelope(
    method: str, path: str, operation: dict[str, Any]
):
    responses = operation["responses"]
    error = {"$ref": "#/components/schemas/Error"}
    assert responses["default"]["content"]["application/json"]["schema"] == error
    for status, response in responses.items():
        if status.startswith(("4", "5")):
            assert response["content"]["application/json"]["schema"] == error
    if path != "/health":
        assert {"401", "403"} <= responses.keys()
        assert operation["security"] == [{"bearer": []}]
        names = [p["name"] for p in operation.get("parameters", [])]
        assert "authorization" not in names  # the security scheme says it
    if operation.get("parameters") or operation.get("requestBody"):
        assert "422" in responses
    if "{" in path:
        assert "404" in responses
    if operation.get("requestBody"):
        assert "413" in responses


def test_the_bearer_scheme_is_declared():
    scheme = SCHEMA["components"]["securitySchemes"]["bearer"]
    assert scheme == {"type": "http", "scheme": "bearer"}


def test_event_streams_are_declared_as_event_streams():
    for path in (
        "/v1/workflow-runs/{run_id}/stream",
        "/v1/workflows/{workflow_id}/execute/stream",
    ):
        method = "get" if path.endswith("{run_id}/stream") else "post"
        content = SCHEMA["paths"][path][method]["responses"]["200"]["content"]
        assert list(content) == ["text/event-stream"]


async def test_real_error_bodies_match_the_schema(team: Team):
    cases: list[tuple[str, str, dict[str, Any], int]] = [
        ("get", "/v1/workflows", {"params": {"page": 0}}, 422),
        ("get", "/v1/workflows/{workflow_id}", {}, 404),
        ("post", "/v1/workflows", {"json": {"name": "x", "n": 10**30}}, 422),
        ("post", "/v1/workflows", {"json": BROKEN_GRAPH}, 400),
    ]
    for method, path, options, status in cases:
        url = path.replace("{workflow_id}", new_object_id())
        response = await team.client.request(method.upper(), url, **options)
        assert response.status_code == status, response.text
        validator = _validator(_response_schema(method, path, status))
        assert validator.is_valid(response.json()), response.text
    team.client.headers.pop("Authorization")
    response = await team.client.get("/v1/workflows")
    assert response.status_code == 401
    assert _validator(_response_schema("get", "/v1/workflows", 401)).is_valid(
        response.json()
    )


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/v1/workflows/{id}", {"GET", "PATCH", "DELETE"}),
        ("PUT", "/v1/workflows", {"GET", "POST"}),
        (
            "POST",
            "/workflows/v1/global-variables/{id}",
            {"GET", "PATCH", "DELETE"},
        ),
        ("DELETE", "/health", {"GET"}),
    ],
)
async def test_a_405_lists_every_method_of_the_path_in_allow(
    team: Team, method: str, path: str, allowed: set[str]
):
    response = await team.client.request(method, path.replace("{id}", new_object_id()))
    assert response.status_code == 405, response.text
    assert response.json()["code"] == "method_not_allowed"
    assert set(response.headers["allow"].split(", ")) == allowed
