"""The inline_python sandbox: results, errors, limits and escape attempts.

Escape probes do not stop at the import allow-list (a usability guard, not a
boundary): they recover the real ``os`` module (and ``ctypes``, loaded by the child's
bootstrap) through ``object.__subclasses__()``, as an attacker would, so they test
the kernel-level layers (seccomp, namespaces, uid drop, clean environment).
"""

import asyncio
import os
import textwrap
from pathlib import Path
from typing import Any

import pytest

from threadline.tools.sandbox import SandboxLimits, SandboxResult, run_inline_python

FAST = SandboxLimits(cpu_seconds=1, wall_seconds=1.0, memory_mb=128)

# Recovers the real ``os`` namespace without ``import``, the classic escape route.
RAW_OS = textwrap.dedent(
    """
    def raw_os():
        for cls in ().__class__.__base__.__subclasses__():
            if cls.__name__ == "_wrap_close":
                return cls.__init__.__globals__
        raise AssertionError("os not found")

    def attempt(fn, *args):
        try:
            return "ok: " + repr(fn(*args))
        except Exception as exc:
            return "failed: " + type(exc).__name__ + ": " + str(exc)
    """
)


async def probe(body: str, **args: Any) -> SandboxResult:
    """Run ``def probe(...)`` (with RAW_OS helpers available) in the sandbox."""
    code = RAW_OS + textwrap.dedent(body)
    return await run_inline_python(code, args, limits=FAST, function_name="probe")


def ok(result: SandboxResult) -> Any:
    assert result.success, (result.error_type, result.error)
    assert result.error is None
    assert result.error_type is None
    return result.result


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


async def test_infinite_loop_is_killed_by_the_time_limit() -> None:
    result = await run_inline_python(
        "def f():\n    while True:\n        pass", {}, limits=FAST
    )
    assert result.error_type == "timeout"
    assert result.latency_ms < 3000


async def test_sleeping_code_is_killed_by_the_wall_clock() -> None:
    code = "import time\n\ndef f():\n    time.sleep(60)"
    limits = SandboxLimits(cpu_seconds=1, wall_seconds=0.5)
    result = await run_inline_python(code, {}, limits=limits)
    assert result.error_type == "timeout"
    assert result.latency_ms < 2000


async def test_memory_bomb_is_stopped() -> None:
    code = textwrap.dedent(
        """
        def f():
            blocks = []
            while True:
                blocks.append(bytearray(10**7))
        """
    )
    result = await run_inline_python(code, {}, limits=FAST)
    assert result.error_type == "memory_limit"
    huge = await run_inline_python("def f():\n    return [0] * 10**9", {}, limits=FAST)
    assert huge.error_type == "memory_limit"


def _children_of(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(entry.name))
    return children


async def test_cancelled_call_leaves_no_process_behind() -> None:
    code = "import time\n\ndef f():\n    time.sleep(60)"
    limits = SandboxLimits(cpu_seconds=5, wall_seconds=30)
    task = asyncio.create_task(run_inline_python(code, {}, limits=limits))
    await asyncio.sleep(0.3)
    assert _children_of(os.getpid())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _children_of(os.getpid()) == []


# --- escape attempts -----------------------------------------------------------------


async def test_import_of_dangerous_modules_is_forbidden() -> None:
    for module in ("os", "socket", "subprocess", "ctypes", "threadline"):
        result = await run_inline_python(
            f"import {module}\n\ndef f():\n    return 1", {}
        )
        assert result.error_type == "forbidden", module


async def test_cannot_read_etc_passwd() -> None:
    plain = await run_inline_python(
        "def f():\n    return open('/etc/passwd').read()", {}
    )
    assert plain.error_type == "forbidden"
    raw = await probe(
        """
        def probe():
            os = raw_os()
            return [attempt(os["open"], "/etc/passwd", os["O_RDONLY"]),
                    attempt(os["listdir"], "/etc")]
        """
    )
    assert all(r.startswith("failed: PermissionError") for r in ok(raw))


async def test_cannot_read_server_files(tmp_path: Path) -> None:
    secret = tmp_path / "server-secret.txt"
    secret.write_text("s3cret")
    result = await probe(
        """
        def probe(path):
            os = raw_os()
            return [attempt(lambda: open(path).read()),
                    attempt(os["open"], path, os["O_RDONLY"])]
        """,
        path=str(secret),
    )
    outcomes = ok(result)
    assert all(r.startswith("failed:") for r in outcomes), outcomes
    assert "s3cret" not in repr(outcomes)


async def test_cannot_see_server_environment_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("THREADLINE_FAKE_SECRET", "hunter2")
    result = await probe(
        """
        def probe():
            os = raw_os()
            environ = dict(os["environ"])
            parent = "/proc/%d/environ" % os["getppid"]()
            return {"environ": environ,
                    "proc": attempt(os["open"], parent, os["O_RDONLY"]),
                    "self": attempt(os["open"], "/proc/self/environ", os["O_RDONLY"])}
        """
    )
    outcome = ok(result)
    assert "THREADLINE_FAKE_SECRET" not in outcome["environ"]
    assert "hunter2" not in repr(outcome)
    assert outcome["proc"].startswith("failed:")
    assert outcome["self"].startswith("failed:")


async def test_cannot_connect_to_a_loopback_server() -> None:
    connections: list[object] = []

    async def on_connect(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        connections.append(reader)
        writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        naive = await run_inline_python(
            "import socket\n\ndef f(port):\n"
            "    socket.create_connection(('127.0.0.1', port))",
            {"port": port},
        )
        assert naive.error_type == "forbidden"
        # Straight to libc through ctypes, which the bootstrap has loaded.
        raw = await probe(
            """
            def probe(port):
                ctypes = raw_os()["sys"].modules["ctypes"]
                libc = ctypes.CDLL(None, use_errno=True)
                fd = libc.socket(2, 1, 0)  # AF_INET, SOCK_STREAM
                if fd < 0:
                    return {"socket": ctypes.get_errno()}
                addr = (b"\\x02\\x00" + port.to_bytes(2, "big")
                        + bytes([127, 0, 0, 1]) + bytes(8))
                rc = libc.connect(fd, addr, 16)
                return {"socket": 0, "connect": rc, "errno": ctypes.get_errno()}
            """,
            port=port,
        )
        outcome = ok(raw)
        assert outcome.get("connect", -1) != 0, outcome
        assert outcome == {"socket": 1}  # EPERM from the seccomp filter
        await asyncio.sleep(0.05)
        assert connections == []
    finally:
        server.close()
        await server.wait_closed()


async def test_cannot_spawn_processes(tmp_path: Path) -> None:
    marker = tmp_path / "spawned"
    result = await probe(
        """
        def probe(marker):
            os = raw_os()
            return {
                "system": os["system"]("touch " + marker),
                "fork": attempt(os["fork"]),
                "spawn": attempt(os["posix_spawn"], "/bin/touch",
                                 ["touch", marker], {}),
                "exec": attempt(os["execv"], "/bin/touch", ["touch", marker]),
            }
        """,
        marker=str(marker),
    )
    outcome = ok(result)
    assert outcome["system"] != 0
    for key in ("fork", "spawn", "exec"):
        assert outcome[key].startswith("failed: PermissionError"), outcome
    assert not marker.exists()


async def test_cannot_write_files_outside_the_sandbox(tmp_path: Path) -> None:
    target = tmp_path / "written"
    result = await probe(
        """
        def probe(target):
            os = raw_os()
            flags = os["O_CREAT"] | os["O_WRONLY"]
            return [attempt(lambda: open(target, "w").write("x")),
                    attempt(os["open"], target, flags, 0o644),
                    attempt(os["mkdir"], target + ".d"),
                    attempt(os["open"], "/tmp/threadline-sandbox-escape", flags)]
        """,
        target=str(target),
    )
    assert all(r.startswith("failed: PermissionError") for r in ok(result))
    assert not target.exists()
    assert not Path(str(target) + ".d").exists()


async def test_fork_bomb_is_bounded() -> None:
    result = await probe(
        """
        def probe():
            os = raw_os()
            while True:
                os["fork"]()
        """
    )
    assert result.error_type == "forbidden"
    assert result.latency_ms < 1000
    assert _children_of(os.getpid()) == []


async def test_cannot_signal_or_trace_the_server() -> None:
    result = await probe(
        """
        def probe(pid):
            os = raw_os()
            return [attempt(os["kill"], pid, 0), attempt(os["kill"], -1, 0)]
        """,
        pid=os.getpid(),
    )
    assert all(r.startswith("failed: PermissionError") for r in ok(result))


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_seccomp_program_assembles_for_supported_architectures(machine: str) -> None:
    from threadline.tools.sandbox_child import build_seccomp_program

    program = build_seccomp_program(machine, pid=1234)
    assert len(program) % 8 == 0
    assert 50 < len(program) // 8 < 4096  # BPF_MAXINSNS
    with pytest.raises(OSError, match="not available"):
        build_seccomp_program("riscv64", pid=1234)
