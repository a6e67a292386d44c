"""The sandbox child's seccomp-BPF filter: a deny-list (EPERM), argument checks on
``clone`` and the ``kill`` family, default allow. Standard library only."""

import struct

# --- seccomp -------------------------------------------------------------------

# (x86_64, aarch64) syscall numbers; None where the syscall does not exist.
_DENIED: dict[str, tuple[int | None, int | None]] = {
    # files: no path can be opened, created, renamed, removed or re-permissioned
    "open": (2, None),
    "openat": (257, 56),
    "openat2": (437, 437),
    "creat": (85, None),
    "open_by_handle_at": (304, 265),
    "name_to_handle_at": (303, 264),
    "rename": (82, None),
    "renameat": (264, 38),
    "renameat2": (316, 276),
    "unlink": (87, None),
    "unlinkat": (263, 35),
    "mkdir": (83, None),
    "mkdirat": (258, 34),
    "rmdir": (84, None),
    "link": (86, None),
    "linkat": (265, 37),
    "symlink": (88, None),
    "symlinkat": (266, 36),
    "mknod": (133, None),
    "mknodat": (259, 33),
    "chmod": (90, None),
    "fchmodat": (268, 53),
    "fchmodat2": (452, 452),
    "chown": (92, None),
    "lchown": (94, None),
    "fchownat": (260, 54),
    "truncate": (76, 45),
    "utime": (132, None),
    "utimes": (235, None),
    "utimensat": (280, 88),
    "futimesat": (261, None),
    "chdir": (80, 49),
    "fchdir": (81, 50),
    "setxattr": (188, 5),
    "lsetxattr": (189, 6),
    "fsetxattr": (190, 7),
    "removexattr": (197, 14),
    "lremovexattr": (198, 15),
    "fremovexattr": (199, 16),
    "memfd_create": (319, 279),
    "memfd_secret": (447, 447),
    "fanotify_init": (300, 262),
    "uselib": (134, None),
    # mounts and root changes
    "chroot": (161, 51),
    "pivot_root": (155, 41),
    "mount": (165, 40),
    "umount2": (166, 39),
    "move_mount": (429, 429),
    "open_tree": (428, 428),
    "fsopen": (430, 430),
    "fsmount": (432, 432),
    "fsconfig": (431, 431),
    "fspick": (433, 433),
    "mount_setattr": (442, 442),
    "swapon": (167, 224),
    "swapoff": (168, 225),
    "acct": (163, 89),
    "quotactl": (179, 60),
    # network (and local sockets)
    "socket": (41, 198),
    "socketpair": (53, 199),
    "connect": (42, 203),
    "bind": (49, 200),
    "listen": (50, 201),
    "accept": (43, 202),
    "accept4": (288, 242),
    # new programs and processes (clone is checked separately)
    "execve": (59, 221),
    "execveat": (322, 281),
    "fork": (57, None),
    "vfork": (58, None),
    "unshare": (272, 97),
    "setns": (308, 268),
    # other processes
    "ptrace": (101, 117),
    "process_vm_readv": (310, 270),
    "process_vm_writev": (311, 271),
    "pidfd_open": (434, 434),
    "pidfd_send_signal": (424, 424),
    "pidfd_getfd": (438, 438),
    # privileges, limits and kernel facilities
    "prctl": (157, 167),
    "setrlimit": (160, 164),
    "prlimit64": (302, 261),
    "setuid": (105, 146),
    "setgid": (106, 144),
    "setreuid": (113, 145),
    "setregid": (114, 143),
    "setresuid": (117, 147),
    "setresgid": (119, 149),
    "setgroups": (116, 159),
    "setfsuid": (122, 151),
    "setfsgid": (123, 152),
    "capset": (126, 91),
    "personality": (135, 92),
    "bpf": (321, 280),
    "perf_event_open": (298, 241),
    "keyctl": (250, 219),
    "add_key": (248, 217),
    "request_key": (249, 218),
    "userfaultfd": (323, 282),
    "io_uring_setup": (425, 425),
    "io_uring_enter": (426, 426),
    "io_uring_register": (427, 427),
    "kexec_load": (246, 104),
    "kexec_file_load": (320, 294),
    "init_module": (175, 105),
    "finit_module": (313, 273),
    "delete_module": (176, 106),
    "reboot": (169, 142),
    "sethostname": (170, 161),
    "setdomainname": (171, 162),
    "settimeofday": (164, 170),
    "clock_settime": (227, 112),
    "adjtimex": (159, 171),
    "clock_adjtime": (305, 266),
    "ioperm": (173, None),
    "iopl": (172, None),
    "vhangup": (153, 58),
    "syslog": (103, 116),
    "lookup_dcookie": (212, 18),
    "mbind": (237, 235),
    "migrate_pages": (256, 238),
    "move_pages": (279, 239),
    "set_mempolicy": (238, 237),
    # scheduling priority and locked memory (matter if privileges were not dropped)
    "sched_setparam": (142, 118),
    "sched_setscheduler": (144, 119),
    "sched_setattr": (314, 274),
    "setpriority": (141, 140),
    "ioprio_set": (251, 30),
    "mlock": (149, 228),
    "mlock2": (325, 284),
    "mlockall": (151, 230),
}
# Syscalls with an argument check: (x86_64, aarch64).
_CLONE = (56, 220)
_CLONE3 = (435, 435)
_KILL = (62, 129)
_TKILL = (200, 130)
_TGKILL = (234, 131)

_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
_X32_SYSCALL_BIT = 0x40000000
_CLONE_THREAD = 0x00010000
# CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
_CLONE_NEW_MASK = 0x00020000 | 0x7E000000

_LD_W_ABS = 0x20
_JEQ = 0x15
_JGE = 0x35
_JSET = 0x45
_RET = 0x06
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
_RET_KILL_PROCESS = 0x80000000
_EPERM = 1
_ENOSYS = 38

# An instruction before assembly: (code, jt label or None, jf label or None, k).
_Insn = tuple[int, str | None, str | None, int]


def _assemble(program: list[_Insn | str]) -> bytes:
    """Resolve labels (strings in ``program``) into BPF relative jumps."""
    labels: dict[str, int] = {}
    insns: list[_Insn] = []
    for item in program:
        if isinstance(item, str):
            labels[item] = len(insns)
        else:
            insns.append(item)
    out = bytearray()
    for pc, (code, jt, jf, k) in enumerate(insns):
        offsets = []
        for label in (jt, jf):
            off = 0 if label is None else labels[label] - pc - 1
            if not 0 <= off <= 255:
                raise ValueError(f"BPF jump out of range: {label}")
            offsets.append(off)
        out += struct.pack("=HBBI", code, offsets[0], offsets[1], k)
    return bytes(out)


def build_seccomp_program(machine: str, pid: int) -> bytes:
    """The filter: a deny-list (EPERM), argument checks, default allow."""
    if machine not in _AUDIT_ARCH:
        raise OSError(f"seccomp filter not available for architecture {machine}")
    idx = 0 if machine == "x86_64" else 1
    p: list[_Insn | str] = [
        (_LD_W_ABS, None, None, 4),  # seccomp_data.arch
        (_JEQ, "arch_ok", "kill", _AUDIT_ARCH[machine]),
        "arch_ok",
        (_LD_W_ABS, None, None, 0),  # seccomp_data.nr
    ]
    if machine == "x86_64":
        p.append((_JGE, "kill", "nr_ok", _X32_SYSCALL_BIT))
        p.append("nr_ok")
    p += [
        (_JEQ, "clone", None, _CLONE[idx]),
        (_JEQ, "enosys", None, _CLONE3[idx]),
        (_JEQ, "self_only", None, _KILL[idx]),
        (_JEQ, "self_only", None, _TKILL[idx]),
        (_JEQ, "self_only", None, _TGKILL[idx]),
    ]
    for numbers in _DENIED.values():
        nr = numbers[idx]
        if nr is not None:
            p.append((_JEQ, "eperm", None, nr))
    p += [
        (_RET, None, None, _RET_ALLOW),
        # clone: threads only, and no new namespaces
        "clone",
        (_LD_W_ABS, None, None, 16),  # low word of args[0] (flags)
        (_JSET, "eperm", None, _CLONE_NEW_MASK),
        (_JSET, "allow", "eperm", _CLONE_THREAD),
        # kill/tkill/tgkill: only this process (or its own group, pid 0 for kill)
        "self_only",
        (_LD_W_ABS, None, None, 16),
        (_JEQ, "allow", None, pid),
        (_JEQ, "allow", "eperm", 0),
        "allow",
        (_RET, None, None, _RET_ALLOW),
        "eperm",
        (_RET, None, None, _RET_ERRNO | _EPERM),
        "enosys",
        (_RET, None, None, _RET_ERRNO | _ENOSYS),
        "kill",
        (_RET, None, None, _RET_KILL_PROCESS),
    ]
    return _assemble(p)
