"""The inline_python sandbox: results, errors and limits.

Escape attempts and attacks on the server (files, environment, network, processes,
signals, CPU, memory and output floods) are the security battery:
``tests/security/test_sandbox.py``.
"""

import asyncio
import os
import textwrap

import pytest

from tests.security.probes import children_of, ok, probe
from threadline.tools.sandbox import SandboxLimits, run_inline_python

# --- results and errors ------------------------------------------------------------


async def test_simple_function_returns_its_value() -> None:
    code = "def double(x: float) -> float:\n    return x * 2"
    result = await run_inline_python(code, {"x": 2.5})
    assert ok(result) == 5.0
    assert result.latency_ms > 0


async def test_kwargs_keep_native_json_types() -> None:
    code = textwrap.dedent(
        """
        def describe(order: dict, items: list, rate: float, note=None):
            return {
                "types": [type(order).__name__, type(items).__name__,
                          type(rate).__name__, type(note).__name__],
                "total": sum(i["qty"] for i in items) * rate,
                "customer": order["customer"],
            }
        """
    )
    args = {
        "order": {"customer": "Ada", "tags": ["vip"]},
        "items": [{"qty": 2}, {"qty": 3}],
        "rate": 1.5,
    }
    assert ok(await run_inline_python(code, args)) == {
        "types": ["dict", "list", "float", "NoneType"],
        "total": 7.5,
        "customer": "Ada",
    }


async def test_first_def_is_called_unless_one_is_named() -> None:
    code = "def first():\n    return 1\n\ndef second():\n    return 2\n"
    assert ok(await run_inline_python(code, {})) == 1
    assert ok(await run_inline_python(code, {}, function_name="second")) == 2
    missing = await run_inline_python(code, {}, function_name="third")
    assert missing.error_type == "function_not_found"


async def test_allowed_stdlib_modules_work() -> None:
    code = textwrap.dedent(
        """
        import json, math, re
        from datetime import date

        def f(text):
            return {"words": re.findall(r"\\w+", text), "pi": round(math.pi, 2),
                    "day": date(2024, 2, 29), "json": json.dumps([1])}
        """
    )
    assert ok(await run_inline_python(code, {"text": "a b"})) == {
        "words": ["a", "b"],
        "pi": 3.14,
        "day": "2024-02-29",
        "json": "[1]",
    }


async def test_non_serialisable_result_is_converted_with_str() -> None:
    code = textwrap.dedent(
        """
        class P:
            def __str__(self):
                return "P!"

        def f():
            return [P(), {3}]
        """
    )
    assert ok(await run_inline_python(code, {}, function_name="f")) == ["P!", [3]]


async def test_prints_do_not_corrupt_the_result() -> None:
    result = await probe(
        """
        def probe():
            print("noise")
            raw_os()["write"](1, b"garbage\\n")
            return 42
        """
    )
    assert ok(result) == 42


async def test_syntax_error_is_reported() -> None:
    result = await run_inline_python("def f(:\n    return 1", {})
    assert not result.success
    assert result.error_type == "syntax_error"
    assert result.error is not None
    assert "line 1" in result.error


async def test_exception_is_reported_with_its_message() -> None:
    code = "def f(x):\n    raise ValueError(f'bad value {x}')"
    result = await run_inline_python(code, {"x": 7})
    assert result.error_type == "runtime_error"
    assert result.error is not None
    assert "ValueError: bad value 7" in result.error
    assert "line 2" in result.error


async def test_wrong_arguments_are_reported() -> None:
    result = await run_inline_python("def f(x):\n    return x", {"y": 1})
    assert result.error_type == "invalid_arguments"
    unserialisable = await run_inline_python("def f(x):\n    return x", {"x": {1}})
    assert unserialisable.error_type == "invalid_arguments"


async def test_oversized_result_is_refused() -> None:
    limits = SandboxLimits(cpu_seconds=1, wall_seconds=2, max_output_bytes=1000)
    code = "def f():\n    return 'x' * 5000"
    result = await run_inline_python(code, {}, limits=limits)
    assert result.error_type == "output_limit"


# --- limits --------------------------------------------------------------------------


async def test_sleeping_code_is_killed_by_the_wall_clock() -> None:
    code = "import time\n\ndef f():\n    time.sleep(60)"
    limits = SandboxLimits(cpu_seconds=1, wall_seconds=0.5)
    result = await run_inline_python(code, {}, limits=limits)
    assert result.error_type == "timeout"
    assert result.latency_ms < 2000


async def test_cancelled_call_leaves_no_process_behind() -> None:
    code = "import time\n\ndef f():\n    time.sleep(60)"
    limits = SandboxLimits(cpu_seconds=5, wall_seconds=30)
    task = asyncio.create_task(run_inline_python(code, {}, limits=limits))
    await asyncio.sleep(0.3)
    assert children_of(os.getpid())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert children_of(os.getpid()) == []
