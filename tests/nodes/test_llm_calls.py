"""The structured-output checker and JSON extraction."""

import pytest

from threadline.nodes.llm_calls import extract_json, parse_object, validate

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": ["integer", "null"]},
        "level": {"enum": ["low", "high"]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "address": {
            "type": "object",
            "properties": {"zip": {"type": "string"}},
            "required": ["zip"],
        },
    },
    "required": ["name"],
}


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"name": "a", "age": None, "tags": ["x"], "address": {"zip": "1"}}, None),
        ({"age": 3}, "missing the required key 'name'"),
        ({"name": 1}, "$.name should be string"),
        ({"name": "a", "age": True}, "$.age should be integer or null"),
        ({"name": "a", "level": "mid"}, "$.level must be one of"),
        ({"name": "a", "tags": ["x", 2]}, "$.tags[1] should be string"),
        ({"name": "a", "address": {}}, "$.address is missing the required key 'zip'"),
    ],
)
def test_validate(value, problem):
    found = validate(value, SCHEMA)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


def test_extract_json_tolerates_fences_and_prose():
    assert extract_json('```json\n{"a": 1}\n```') == {"a": 1}
    assert extract_json('Here you go: {"a": {"b": 2}} thanks') == {"a": {"b": 2}}
    with pytest.raises(ValueError, match="Expecting"):
        extract_json("no json here")


def test_parse_object_requires_an_object():
    assert parse_object("[1, 2]", {"type": "object"})[1] == (
        "the answer must be a JSON object, got list"
    )
    assert parse_object('{"name": "x"}', SCHEMA) == ({"name": "x"}, None)
