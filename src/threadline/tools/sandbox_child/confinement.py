"""Confining the sandbox child: namespaces, privileges, resource limits, and
installing the seccomp filter. Standard library only."""

import contextlib
import ctypes
import os
import resource
from typing import Any


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


PR_SET_DUMPABLE = 4
_PR_SET_SECCOMP = 22
_PR_SET_NO_NEW_PRIVS = 38
_SECCOMP_MODE_FILTER = 2
_CLONE_NEWUTS = 0x04000000
_CLONE_NEWIPC = 0x08000000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_NOBODY = 65534


def load_libc() -> ctypes.CDLL:
    # dlopen(NULL): the interpreter's own symbols, libc included; opens no file.
    return ctypes.CDLL(None, use_errno=True)


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def install_seccomp(libc: ctypes.CDLL, prog: bytes) -> None:
    """Install the filter ``prog`` (``seccomp.build_seccomp_program``)."""
    buf = ctypes.create_string_buffer(prog, len(prog))
    fprog = _SockFprog(len(prog) // 8, ctypes.cast(buf, ctypes.c_void_p).value)
    _check(libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    _check(
        libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0),
        "seccomp",
    )


def _drop_capabilities(libc: ctypes.CDLL) -> None:
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (ctypes.c_uint32 * 6)()
    _check(libc.capset(header, data), "capset")


def isolate_namespaces(libc: ctypes.CDLL, root_dir: str, layers: list[str]) -> None:
    """Best-effort kernel isolation; each layer that worked is appended."""
    if os.geteuid() == 0:
        if libc.unshare(_CLONE_NEWNET | _CLONE_NEWIPC | _CLONE_NEWUTS) == 0:
            layers.append("netns")
        try:
            os.chroot(root_dir)
            os.chdir("/")
            layers.append("chroot")
        except OSError:
            pass
        try:
            os.setgroups([])
            os.setresgid(_NOBODY, _NOBODY, _NOBODY)
            os.setresuid(_NOBODY, _NOBODY, _NOBODY)
            layers.append("nobody")
        except OSError:
            pass
    else:
        flags = _CLONE_NEWUSER | _CLONE_NEWNET | _CLONE_NEWIPC | _CLONE_NEWUTS
        if libc.unshare(flags) == 0:
            layers.append("userns+netns")
            with contextlib.suppress(OSError):
                _drop_capabilities(libc)


def apply_rlimits(limits: dict[str, Any]) -> None:
    cpu = max(1, int(-(-float(limits["cpu_seconds"]) // 1)))  # ceil, at least 1 s
    mem = int(limits["memory_mb"]) * 1024 * 1024
    out = int(limits["max_output_bytes"])
    for res, soft, hard in (
        (resource.RLIMIT_CPU, cpu, cpu + 1),
        (resource.RLIMIT_AS, mem, mem),
        (resource.RLIMIT_NOFILE, 32, 32),
        (resource.RLIMIT_NPROC, 1, 1),
        (resource.RLIMIT_FSIZE, out, out),
        (resource.RLIMIT_CORE, 0, 0),
        (resource.RLIMIT_MEMLOCK, 0, 0),
    ):
        resource.setrlimit(res, (soft, hard))
