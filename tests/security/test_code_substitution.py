"""``allow_code_variable_substitution``: an end user's text never becomes tool code.

The audit's attack: a tool returning ``'Hello {{user_name}}'`` with a ``user_name``
of ``' + key[::-1] + '`` returned the team's secret, reversed. Values are now
written into the source as literals, wherever the placeholder sits.
"""

import textwrap
from typing import Any

import pytest

from tests.api.conftest import Team
from threadline.engine.steps import Scope
from threadline.engine.templates import make_resolver
from threadline.tools.code_substitution import python_literal, substitute_code
from threadline.tools.outcomes import ToolFailure
from threadline.tools.runner import ToolRunner

ATTACK = "' + key[::-1] + '"
GREETER = textwrap.dedent(
    """
    def greet():
        key = 'S3CR3T-KEY'
        return 'Hello {{user_name}}'
    """
)


def fill(code: str, **runtime: Any) -> str:
    return substitute_code(code, make_resolver(runtime=runtime, dynamic=runtime))


def run(code: str, **runtime: Any) -> Any:
    namespace: dict[str, Any] = {}
    exec(fill(code, **runtime), namespace)  # trusted test code, filled with data
    return namespace["f"]()


async def test_the_audit_attack_returns_the_text_not_the_secret(team: Team):
    body = {
        "tool_config": {"type": "inline_python", "name": "greet", "code": GREETER},
        "dynamic_variables": {"user_name": ATTACK},
        "confirm": True,
    }
    response = await team.client.post("/v1/tools/execute", json=body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["success"] is True, result
    assert result["result"] == "Hello " + ATTACK
    assert "YEK-T3RC3S" not in response.text


async def test_the_same_holds_for_a_tool_in_a_run_scope():
    scope = Scope(dynamic={}, runtime={"user_name": ATTACK}, threads={})
    code = GREETER.replace("{{user_name}}", "[[user_name]]")
    tool = {"type": "inline_python", "name": "greet", "code": code}
    out = await ToolRunner().run(tool, {}, scope)
    assert out.result == "Hello " + ATTACK


@pytest.mark.parametrize(
    "value",
    [
        ATTACK,
        '" + key + "',
        "'''\nimport os\n'''",
        "\\",
        "line one\nline two\r\n\t\x00 end",
        "__import__('os').system('id')",
        "{{nested}} [[runtime]]",
    ],
)
def test_hostile_text_in_any_string_literal_stays_text(value: str):
    for quoting in ("'{}'", '"{}"', "'''{}'''", 'r"{}"', "f'{}'", 'f"""{}"""'):
        literal = quoting.format("<{{v}}>")
        code = f"def f():\n    key = 'secret'\n    return {literal}"
        assert run(code, v=value) == f"<{value}>", quoting
    code = "def f():\n    return b'<{{v}}>'"
    assert run(code, v=value) == f"<{value}>".encode()


def test_a_placeholder_where_an_expression_stands_becomes_a_literal():
    code = "def f():\n    return [{{n}}, {{s}}, {{obj}}, {{flag}}, {{nothing}}]"
    values = {"n": 42, "s": "__import__('os')", "obj": {"a": [1, 2.5]}, "flag": True}
    assert run(code, nothing=None, **values) == [
        42,
        "__import__('os')",
        {"a": [1, 2.5]},
        True,
        None,
    ]
    assert run("def f():\n    return {{n}}.bit_length()", n=5) == 3


def test_a_docstring_and_a_comment_cannot_be_escaped_with_a_newline():
    code = textwrap.dedent(
        '''
        def f():
            """Help for {{v}}."""
            # about {{v}}
            return f.__doc__
        '''
    )
    value = "x\nreturn 'pwned'\n"
    assert run(code, v=value) == f"Help for {value}."
    assert "# about {{v}}" in fill(code, v=value)


def test_filters_apply_and_a_missing_value_is_left_as_written():
    assert run("def f():\n    return '{{v | upcase}}'", v="abc") == "ABC"
    assert run("def f():\n    return '{{ghost}}'") == "{{ghost}}"
    assert fill("x = {{ghost}}") == "x = {{ghost}}"


def test_a_placeholder_in_an_fstring_field_is_refused_not_pasted():
    with pytest.raises(ToolFailure) as refused:
        fill("def f():\n    return f'{ {{v}} }'", v="key")
    assert refused.value.error_type == "invalid_tool"
    assert "variable_arguments" in str(refused.value)
    with pytest.raises(ToolFailure):
        fill("def f():\n    return rf'{{v}}'", v="key")


def test_code_without_placeholders_or_that_does_not_tokenize_is_untouched():
    assert fill("def f():\n    return {'a': 1}") == "def f():\n    return {'a': 1}"
    broken = "def f(:\n    return '{{v}}"
    assert fill(broken, v="x") == broken


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        0,
        -3,
        2.5,
        float("inf"),
        float("nan"),
        "",
        "q'\"\\",
        [1, ["a"]],
        {"k": {"j": None}},
    ],
)
def test_python_literal_evaluates_back_to_the_value(value: Any):
    back = eval(python_literal(value))  # trusted: our own literal
    if isinstance(value, float) and value != value:
        assert back != back
    else:
        assert back == value
