"""The sandbox child's pure logic, run in-process (no isolation is applied here).

The isolation itself (namespaces, rlimits, seccomp) is exercised end to end in
test_sandbox.py; these tests cover the request handling that runs after it.
"""

import datetime as dt
from typing import Any

import pytest

from threadline.tools.sandbox_child import user_code as child


def run(code: str, function_name: str | None = None, **args: Any) -> Any:
    return child.run_user_code(
        {"code": code, "args": args, "function_name": function_name}
    )


def failure(
    code: str, function_name: str | None = None, **args: Any
) -> tuple[str, str]:
    try:
        run(code, function_name, **args)
    except BaseException as exc:
        return child.classify(exc)
    raise AssertionError("the code did not fail")


def test_calls_the_function_with_keyword_arguments() -> None:
    assert run("def add(a, b):\n    return a + b", a=1, b=2) == 3


@pytest.mark.parametrize(
    ("code", "function_name", "error_type"),
    [
        ("def f(:\n  pass", None, "syntax_error"),
        ("x = 1", None, "function_not_found"),
        ("def f():\n  pass", "g", "function_not_found"),
        ("async def f():\n  pass", None, "invalid_function"),
        ("def f():\n  pass\nf = 3", None, "function_not_found"),
        ("def f():\n  return 1 / 0", None, "runtime_error"),
        ("import os\ndef f():\n  pass", None, "forbidden"),
        ("from . import x\ndef f():\n  pass", None, "forbidden"),
        ("def f():\n  raise MemoryError", None, "memory_limit"),
        ("def f():\n  raise PermissionError('no')", None, "forbidden"),
    ],
)
def test_failures_are_classified(
    code: str, function_name: str | None, error_type: str
) -> None:
    assert failure(code, function_name)[0] == error_type


def test_wrong_arguments_are_classified() -> None:
    kind, message = failure("def f(x):\n  return x", y=1)
    assert kind == "invalid_arguments"
    assert "f()" in message


def test_runtime_error_message_names_the_line() -> None:
    _, message = failure("def f():\n  raise ValueError('boom')")
    assert message == "ValueError: boom (line 2, in f: raise ValueError('boom'))"


def test_allowed_imports_work() -> None:
    assert run(
        "import math\nfrom json import dumps\ndef f():\n  return dumps(math.e > 2)"
    )


def test_results_are_serialised_or_converted() -> None:
    data = child.serialise({"s": {1}, "d": dt.date(2024, 1, 2), "o": object}, 10_000)
    assert data.startswith(
        b'{"ok": true, "result": {"s": [1], "d": "2024-01-02", "o": "<'
    )
    with pytest.raises(child.Failure) as too_big:
        child.serialise("x" * 100, 50)
    assert too_big.value.error_type == "output_limit"
    circular: list[Any] = []
    circular.append(circular)
    with pytest.raises(child.Failure) as bad:
        child.serialise(circular, 10_000)
    assert bad.value.error_type == "invalid_result"


def test_sink_swallows_output() -> None:
    assert child.Sink().write("abc") == 3
