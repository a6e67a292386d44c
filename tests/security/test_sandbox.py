"""Sandbox battery: inline-Python tool code trying to break out or take the server down.

Each attempt must be contained with a clear result (``forbidden``, ``timeout``,
``memory_limit``, ``output_limit``) and leave no process or descriptor behind. The
probes recover the real ``os`` (and ``ctypes``) through ``__subclasses__`` so that
they test the kernel layers, not the import allow-list (see ``tests.security.probes``).
"""

import asyncio
import os
import platform
import signal
import textwrap
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.security.probes import (
    FAST,
    children_of,
    ok,
    open_fds,
    probe,
)
from threadline.store import Store
from threadline.tools.sandbox import SandboxLimits, run_inline_python

# --- reading what belongs to the server ------------------------------------------


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


async def test_cannot_read_the_database_file(database_url: str, store: Store) -> None:
    path = make_url(database_url).database
    if not path or not Path(path).exists():  # PostgreSQL: nothing on this disk
        pytest.skip("the test database is not a local SQLite file")
    result = await probe(
        """
        def probe(path):
            os = raw_os()
            return {"open": attempt(lambda: open(path, "rb").read(100)),
                    "raw": attempt(os["open"], path, os["O_RDONLY"]),
                    "wal": attempt(os["open"], path + "-wal", os["O_RDONLY"])}
        """,
        path=path,
    )
    outcome = ok(result)
    assert all(r.startswith("failed:") for r in outcome.values()), outcome
    assert "SQLite format" not in repr(outcome)


async def test_cannot_open_files_through_ctypes_and_raw_syscalls() -> None:
    result = await probe(
        """
        def probe():
            ctypes = raw_os()["sys"].modules["ctypes"]
            libc = ctypes.CDLL(None, use_errno=True)
            out = {}
            fd = libc.open(b"/etc/passwd", 0)
            out["open"] = (fd, ctypes.get_errno())
            fd = libc.syscall(257, -100, b"/etc/passwd", 0)  # openat, x86_64
            out["syscall"] = (fd, ctypes.get_errno())
            return out
        """
    )
    outcome = ok(result)
    assert outcome["open"] == [-1, 1]  # EPERM
    if platform.machine() == "x86_64":
        assert outcome["syscall"] == [-1, 1]


async def test_cannot_see_server_environment_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("THREADLINE_FAKE_SECRET", "hunter2")
    monkeypatch.setenv("THREADLINE_OPENAI_API_KEY", "sk-server-key-1234")
    monkeypatch.setenv("THREADLINE_SECRET_KEY", "fernet-key-5678")
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
    assert not any(name.startswith("THREADLINE_") for name in outcome["environ"])
    for value in ("hunter2", "sk-server-key-1234", "fernet-key-5678"):
        assert value not in repr(outcome)
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
    assert children_of(os.getpid()) == []


async def test_cannot_signal_or_trace_the_server() -> None:
    received: list[int] = []
    previous = signal.signal(
        signal.SIGUSR1, lambda signum, frame: received.append(signum)
    )
    try:
        result = await probe(
            """
            def probe(pid):
                os = raw_os()
                ctypes = os["sys"].modules["ctypes"]
                libc = ctypes.CDLL(None, use_errno=True)
                usr1 = 10
                return {
                    "kill": attempt(os["kill"], pid, usr1),
                    "everyone": attempt(os["kill"], -1, usr1),
                    "group": attempt(os["killpg"], os["getpgid"](pid), usr1),
                    "libc": [libc.kill(pid, usr1), ctypes.get_errno()],
                    "ptrace": [libc.ptrace(16, pid, 0, 0), ctypes.get_errno()],
                }
            """,
            pid=os.getpid(),
        )
        await asyncio.sleep(0.1)
    finally:
        signal.signal(signal.SIGUSR1, previous)
    outcome = ok(result)
    for key in ("kill", "everyone", "group"):
        assert outcome[key].startswith("failed: PermissionError"), outcome
    assert outcome["libc"] == [-1, 1]
    assert outcome["ptrace"] == [-1, 1]
    assert received == []


# --- CPU and memory ------------------------------------------------------------------


async def test_infinite_loop_is_killed_by_the_time_limit() -> None:
    result = await run_inline_python(
        "def f():\n    while True:\n        pass", {}, limits=FAST
    )
    assert result.error_type == "timeout"
    assert result.latency_ms < 3000


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


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_seccomp_program_assembles_for_supported_architectures(machine: str) -> None:
    from threadline.tools.sandbox_child.seccomp import build_seccomp_program

    program = build_seccomp_program(machine, pid=1234)
    assert len(program) % 8 == 0
    assert 50 < len(program) // 8 < 4096  # BPF_MAXINSNS
    with pytest.raises(OSError, match="not available"):
        build_seccomp_program("riscv64", pid=1234)


# --- output floods -------------------------------------------------------------------

# A guard, not a speed goal: a flooding tool used to hang its caller forever.
HANG_GUARD_S = 60


@pytest.mark.parametrize("fd", [1, 2])
async def test_a_flood_on_a_standard_descriptor_is_cut_off(fd: int) -> None:
    before = open_fds()
    result = await asyncio.wait_for(
        probe(
            """
            def probe(fd):
                raw_os()["write"](fd, b"x" * 3_000_000)
                return "done"
            """,
            fd=fd,
        ),
        HANG_GUARD_S,
    )
    assert result.error_type == "output_limit", result
    assert "1000000-byte limit" in (result.error or "")
    assert open_fds() == before
    assert children_of(os.getpid()) == []


@pytest.mark.parametrize("fd", [1, 2])
async def test_an_endless_writer_is_cut_off(fd: int) -> None:
    limits = SandboxLimits(cpu_seconds=5, wall_seconds=30, max_output_bytes=10_000)
    result = await asyncio.wait_for(
        probe(
            """
            def probe(fd):
                write = raw_os()["write"]
                while True:
                    write(fd, b"y" * 65536)
            """,
            limits=limits,
            fd=fd,
        ),
        HANG_GUARD_S,
    )
    assert result.error_type == "output_limit", result
    assert children_of(os.getpid()) == []


async def test_printing_a_lot_is_swallowed_and_the_result_kept() -> None:
    result = await probe(
        """
        def probe():
            for _ in range(2000):
                print("z" * 1000)
            raw_os()["sys"].stderr.write("e" * 2_000_000)
            return "kept"
        """
    )
    assert ok(result) == "kept"


async def test_a_flood_then_a_cancellation_leaves_nothing_behind() -> None:
    before = open_fds()
    limits = SandboxLimits(cpu_seconds=30, wall_seconds=30, max_output_bytes=10**9)
    task = asyncio.create_task(
        probe(
            """
            def probe():
                write = raw_os()["write"]
                while True:
                    write(1, b"w" * 65536)
            """,
            limits=limits,
        )
    )
    await asyncio.sleep(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, HANG_GUARD_S)
    assert children_of(os.getpid()) == []
    assert open_fds() == before
