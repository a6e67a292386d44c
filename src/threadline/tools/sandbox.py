"""Run ``inline_python`` tool code isolated from the server.

Each call starts a fresh CPython child (``sys.executable -I -S -B sandbox_child/``)
and talks to it over pipes: the request (code, arguments, limits) goes in as JSON on
stdin, one JSON line comes back on stdout. Only the standard library and the Linux
kernel are used: no extra Python package and no apt package (``bubblewrap``,
``pydantic-monty`` were considered; see "Why not" below).

Isolation layers, outermost first, and how far each can be trusted:

1. **Separate process, clean start.** Empty environment (no server secrets), ``-I -S``
   (no ``PYTHON*`` variables, no site-packages, so no server code or installed
   packages), only fds 0/1/2 inherited, working directory a fresh empty temp dir,
   own session/process group. The server's memory, files and descriptors are simply
   not there. Strong.
2. **Wall-clock and output limits** (parent side, ``tools.child_process``): past
   ``wall_seconds`` the whole process group is ``SIGKILL``-ed and reaped; cancellation
   of the awaiting task does the same. stdout and stderr are drained to their end
   concurrently, keeping only a capped prefix, so a chatty child can neither exhaust
   the server's memory nor block on a full pipe; more than ``max_output_bytes`` on
   either descriptor kills the child at once (``output_limit``). Every descriptor is
   closed and the child reaped on every path. Strong; it does not depend on anything
   in the child.
3. **Namespaces, chroot, uid drop** (child bootstrap, best effort). As root:
   ``unshare(NET|IPC|UTS)`` -> a network namespace with only a down loopback (no
   route anywhere, not even to the host's 127.0.0.1), ``chroot`` into the empty temp
   dir, then ``setgroups([])`` + ``setresuid/gid(nobody)`` (so no capabilities, no
   access to root-owned files, cannot signal or trace server processes). Not root:
   ``unshare(USER|NET|IPC|UTS)`` where unprivileged user namespaces are allowed
   (capabilities in it dropped). These are real kernel boundaries, but they are
   skipped silently where the deployment forbids them (containers without
   ``CAP_SYS_ADMIN``, user namespaces disabled); the layers below still hold then.
4. **Resource limits** (``setrlimit``): ``RLIMIT_CPU`` (ceil of ``cpu_seconds``;
   SIGXCPU then SIGKILL one second later), ``RLIMIT_AS`` = ``memory_mb`` (a memory
   bomb gets ``MemoryError``), ``RLIMIT_NOFILE`` 32, ``RLIMIT_NPROC`` 1,
   ``RLIMIT_FSIZE``, ``RLIMIT_CORE`` 0, ``RLIMIT_MEMLOCK`` 0. Hard limits equal soft
   ones, so the code cannot raise them. ``RLIMIT_AS`` counts address space, not RSS:
   a limit far below ~60 MB breaks the interpreter itself.
5. **seccomp-BPF filter** (mandatory: if it cannot be installed the code is not run,
   ``error_type="sandbox_error"``). Built by hand with ``ctypes`` (x86_64 and
   aarch64) after ``PR_SET_NO_NEW_PRIVS``; denied calls fail with ``EPERM`` (seen as
   ``PermissionError`` -> ``error_type="forbidden"``): every way to open, create,
   rename, remove or re-permission a path (``open``/``openat``/``openat2``/...), all
   socket creation (``socket``, ``socketpair``, ``connect``, ``bind``...),
   ``execve``/``execveat``, ``fork``/``vfork``, ``clone`` unless it creates a thread
   without new namespaces, ``clone3`` (ENOSYS), ``kill``/``tkill``/``tgkill`` except
   on itself, ``ptrace``/``process_vm_*``/``pidfd_*``, ``io_uring_*`` (which could
   bypass the filter), ``bpf``, ``perf_event_open``, ``userfaultfd``, keyrings,
   mounts, ``chroot``, ``unshare``/``setns``, uid/gid/capability changes,
   ``setrlimit``/``prlimit64``, ``prctl``, scheduling priority and ``mlock``; other
   ABIs (i386, x32) kill the process.
   This holds even against code that recovers ``os`` or ``ctypes`` through
   ``object.__subclasses__()`` and calls libc directly: it is the layer the escape
   tests exercise. It is a *deny-list*: syscalls not listed are allowed (e.g.
   ``stat``/``statx`` on host paths when no chroot applied, revealing that a path
   exists and its metadata, never its content; ``uname``; ``sysinfo``), so a kernel
   bug in an allowed syscall is reachable.
6. **Import allow-list** (Python level): user code sees a ``builtins`` whose
   ``__import__`` only admits a fixed list of pure modules (``json``, ``math``,
   ``re``, ``datetime``, ``decimal``, ``statistics``, ...; see
   ``sandbox_child.user_code.ALLOWED_MODULES``), all imported before isolation since
   nothing can be loaded from disk afterwards. ``import os`` / ``socket`` /
   ``subprocess`` fail with ``error_type="forbidden"``. This is a usability guard that
   gives clear errors, **not** a boundary (it is bypassable from pure Python).

Why not ``pydantic-monty`` (stack guide tier 1): it interprets a Python *subset*, so
ordinary Interactly tool code (classes, many stdlib modules) would not run; the
``pydantic-monty`` 1.5.0 metapackage still resolves to 1.4.0 parts (verified with
``pip install --dry-run``); it would be a new dependency with an "experimental"
status. Why not ``bubblewrap``: it needs an apt package in CI and on every host, and
gives little over layers 3 and 5 here, which need only the kernel.

Remaining weaknesses: a kernel vulnerability reachable through an allowed syscall;
the deny-list (not an allow-list) design; CPU-time side channels; where namespaces
are unavailable and the server is not root, the child runs with the server's uid
(still no open, exec, socket, signal or ptrace, but host path metadata is visible
via ``stat``); a startup cost of roughly 50-100 ms per call (no worker pool). How many
run at once is bounded by the caller (``tools.limits.ToolSlots`` in ``ToolRunner``).
"""

from __future__ import annotations

import json
import math
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from threadline.tools.child_process import ChildProcess

__all__ = ["SandboxLimits", "SandboxResult", "run_inline_python"]

_CHILD = Path(__file__).with_name("sandbox_child")  # a folder, run as one
_STDERR_CAP = 8192
_ENVELOPE = 4096  # room for the JSON wrapper around a result of max_output_bytes


@dataclass(frozen=True)
class SandboxLimits:
    """Per-call limits. ``cpu_seconds`` is rounded up to whole seconds."""

    cpu_seconds: float = 2.0
    wall_seconds: float = 5.0
    memory_mb: int = 256
    max_output_bytes: int = 1_000_000

    def __post_init__(self) -> None:
        if min(self.cpu_seconds, self.wall_seconds) <= 0:
            raise ValueError("time limits must be positive")
        if self.memory_mb < 32 or self.max_output_bytes < 1:
            raise ValueError("memory_mb must be >= 32 and max_output_bytes >= 1")


@dataclass(frozen=True)
class SandboxResult:
    """The outcome; ``error``/``error_type`` are set exactly when ``success`` is False.

    ``error_type`` is one of ``syntax_error``, ``function_not_found``,
    ``invalid_function``, ``invalid_arguments``, ``runtime_error``, ``forbidden``,
    ``timeout``, ``memory_limit``, ``output_limit``, ``invalid_result``,
    ``sandbox_error``.
    """

    success: bool
    result: Any
    error: str | None
    error_type: str | None
    latency_ms: float


async def run_inline_python(
    code: str,
    args: dict[str, Any],
    *,
    limits: SandboxLimits = SandboxLimits(),
    function_name: str | None = None,
) -> SandboxResult:
    """Call the (named, else first) top-level ``def`` in ``code`` with ``**args``.

    Never raises (except ``CancelledError``, after killing the child) and never
    leaves a process behind.
    """
    started = time.perf_counter()

    def done(
        ok: bool, result: Any = None, error: str | None = None, kind: str | None = None
    ) -> SandboxResult:
        latency = (time.perf_counter() - started) * 1000
        return SandboxResult(ok, result, error, kind, latency)

    if not isinstance(args, dict) or not all(isinstance(k, str) for k in args):
        msg = "arguments must be an object with string keys"
        return done(False, error=msg, kind="invalid_arguments")
    try:
        request = json.dumps(
            {
                "code": code,
                "args": args,
                "function_name": function_name,
                "limits": {
                    "cpu_seconds": limits.cpu_seconds,
                    "memory_mb": limits.memory_mb,
                    "max_output_bytes": limits.max_output_bytes,
                },
            },
            allow_nan=False,
        ).encode()
    except (TypeError, ValueError) as exc:
        msg = f"arguments are not JSON-serialisable: {exc}"
        return done(False, error=msg, kind="invalid_arguments")

    workdir: str | None = None
    try:
        workdir = tempfile.mkdtemp(prefix="threadline-sandbox-")
        outcome = await _run_child(request, limits, workdir)
    except Exception as exc:  # never raise to the caller (cancellation still does)
        msg = f"could not run the sandbox: {type(exc).__name__}: {exc}"
        return done(False, error=msg, kind="sandbox_error")
    finally:
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
    return done(*outcome)


async def _run_child(
    request: bytes, limits: SandboxLimits, workdir: str
) -> tuple[bool, Any, str | None, str | None]:
    async with ChildProcess.start(
        [sys.executable, "-I", "-S", "-B", str(_CHILD)],
        workdir,
        stdout_cap=limits.max_output_bytes + _ENVELOPE,
        stderr_keep=_STDERR_CAP,
        stderr_cap=limits.max_output_bytes,
    ) as child:
        child.send(request)
        await child.finish(limits.wall_seconds)
    if child.killed_for == "timeout":
        return (False, None, _timeout_message(limits), "timeout")
    if child.killed_for == "output_limit":
        msg = f"the output exceeded the {limits.max_output_bytes}-byte limit"
        return (False, None, msg, "output_limit")
    return _interpret(child.stdout, child.stderr, child.returncode, limits)


def _timeout_message(limits: SandboxLimits) -> str:
    cpu = max(1, math.ceil(limits.cpu_seconds))
    return (
        f"the code exceeded the time limit "
        f"(wall {limits.wall_seconds:g} s, CPU {cpu} s) and was killed"
    )


def _interpret(
    out: bytes, err: bytes, returncode: int | None, limits: SandboxLimits
) -> tuple[bool, Any, str | None, str | None]:
    lines = [line for line in out.splitlines() if line.strip()]
    if lines:
        try:
            reply = json.loads(lines[-1])
        except ValueError:
            reply = None
        if isinstance(reply, dict) and "ok" in reply:
            if reply["ok"]:
                return (True, reply.get("result"), None, None)
            return (False, None, str(reply.get("error")), str(reply.get("error_type")))
    # No reply: the child died. Classify by how.
    if returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        return (False, None, _timeout_message(limits), "timeout")
    tail = err.decode(errors="replace").strip()[-500:]
    if "MemoryError" in tail or "Cannot allocate memory" in tail:
        msg = f"the code exceeded the memory limit ({limits.memory_mb} MB)"
        return (False, None, msg, "memory_limit")
    detail = f": {tail}" if tail else ""
    msg = f"the sandboxed process ended without a result (exit {returncode}){detail}"
    return (False, None, msg, "sandbox_error")
