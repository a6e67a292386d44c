"""The sandbox child's bootstrap: ``python -I -S -B sandbox_child/`` runs this.

Sequence (the trusted bootstrap runs first; user code arrives only as data):

1. read the request (JSON on stdin: ``code``, ``args``, ``function_name``, ``limits``);
2. import every module the user may import (later imports cannot open files);
3. namespaces: as root ``unshare(NET|IPC|UTS)``, ``chroot`` into the empty working
   directory, drop to ``nobody``; otherwise try ``unshare(USER|NET|IPC|UTS)`` and
   drop capabilities (each step best effort, recorded in ``layers``);
4. ``no_new_privs``, not dumpable, resource limits (CPU, address space, files,
   processes, file size, core, memlock);
5. a seccomp-BPF filter (mandatory: if it cannot be installed the code is not run);
6. compile and run the user code with an import allow-list, call the function,
   write one JSON line on the saved stdout descriptor.
"""

import json
import os
import platform
import sys
from typing import Any

if __package__:  # imported as threadline.tools.sandbox_child.__main__ (tests, mypy)
    from threadline.tools.sandbox_child import confinement, seccomp, user_code
else:  # run as a folder: the folder is sys.path[0] (see the package docstring)
    import confinement  # type: ignore[import-not-found, no-redef]
    import seccomp  # type: ignore[import-not-found, no-redef]
    import user_code  # type: ignore[import-not-found, no-redef]


def _emit(fd: int, data: bytes) -> None:
    data = b"\n" + data + b"\n"
    while data:
        n = os.write(fd, data)
        data = data[n:]


def main() -> None:
    out_fd = sys.stdout.fileno()
    try:
        request = json.loads(sys.stdin.buffer.read())
        limits: dict[str, Any] = request["limits"]
    except Exception as exc:  # malformed request: a parent bug
        _emit(out_fd, json.dumps(_err("sandbox_error", f"bad request: {exc}")).encode())
        return
    for module in user_code.ALLOWED_MODULES:
        __import__(module)
    layers: list[str] = []
    try:
        libc = confinement.load_libc()
        confinement.isolate_namespaces(libc, os.getcwd(), layers)
        libc.prctl(confinement.PR_SET_DUMPABLE, 0, 0, 0, 0)
        confinement.apply_rlimits(limits)
        program = seccomp.build_seccomp_program(platform.machine(), os.getpid())
        confinement.install_seccomp(libc, program)
        layers.append("seccomp")
    except Exception as exc:  # fail closed: no filter, no user code
        msg = f"could not isolate the code, not run: {exc}"
        _emit(out_fd, json.dumps(_err("sandbox_error", msg)).encode())
        return
    sys.stdout = sys.stderr = user_code.Sink()
    try:
        data = user_code.serialise(
            user_code.run_user_code(request), int(limits["max_output_bytes"])
        )
    except BaseException as exc:
        data = json.dumps(_err(*user_code.classify(exc))).encode()
    _emit(out_fd, data)


def _err(error_type: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error_type": error_type, "error": message}


if __name__ == "__main__":
    main()
    os._exit(0)  # skip interpreter teardown and user atexit/finalisers
