"""Helpers of the sandbox batteries: probes that escape the import allow-list.

Escape probes do not stop at the import allow-list (a usability guard, not a
boundary): they recover the real ``os`` module (and ``ctypes``, loaded by the child's
bootstrap) through ``object.__subclasses__()``, as an attacker would, so they test
the kernel-level layers (seccomp, namespaces, uid drop, clean environment).
"""

import os
import textwrap
from pathlib import Path
from typing import Any

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


async def probe(body: str, limits: SandboxLimits = FAST, **args: Any) -> SandboxResult:
    """Run ``def probe(...)`` (with RAW_OS helpers available) in the sandbox."""
    code = RAW_OS + textwrap.dedent(body)
    return await run_inline_python(code, args, limits=limits, function_name="probe")


def ok(result: SandboxResult) -> Any:
    assert result.success, (result.error_type, result.error)
    assert result.error is None
    assert result.error_type is None
    return result.result


def children_of(pid: int) -> list[int]:
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


def open_fds() -> set[str]:
    """This process's open file descriptors."""
    return set(os.listdir("/proc/self/fd"))
