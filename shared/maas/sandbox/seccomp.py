"""The seccomp filter of a model host: no new sockets or processes (threads only), no execve, no ptrace, no
mounts, namespaces, keyrings, BPF or io_uring, and no signals but to itself."""

from __future__ import annotations

import ctypes
import errno
import os
import struct

from maas.sandbox.syscalls import ARCH, SYSCALLS, ConfinementError, libc, no_new_privs

AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}

_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 22, 2
_CLONE_THREAD = 0x00010000
_CLONE_NAMESPACES = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000


def seccomp_available() -> bool:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            return any(line.startswith("Seccomp:") for line in status)
    except OSError:
        return False


_DENIED = [
    "socket",
    "connect",
    "accept",
    "bind",
    "listen",
    "accept4",
    "execve",
    "execveat",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "unshare",
    "setns",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "keyctl",
    "add_key",
    "request_key",
    "kexec_load",
    "init_module",
    "finit_module",
    "delete_module",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "open_by_handle_at",
    "name_to_handle_at",
    "fanotify_init",
    "tkill",
    "fork",
    "vfork",
]
_LD_W_ABS, _JEQ_K, _JSET_K, _RET_K = 0x20, 0x15, 0x45, 0x06
_RET_ALLOW, _RET_KILL = 0x7FFF0000, 0x80000000
_OFF_NR, _OFF_ARCH, _OFF_ARG0, _OFF_ARG0_HI = 0, 4, 16, 20


def _errno(code: int) -> int:
    return 0x00050000 | code


def _seccomp_program(pid: int) -> list[tuple[int, int, int, int]]:
    numbers = SYSCALLS[ARCH]
    program: list[tuple[int, int, int, int]] = [
        (_LD_W_ABS, 0, 0, _OFF_ARCH),
        (_JEQ_K, 1, 0, AUDIT_ARCH[ARCH]),
        (_RET_K, 0, 0, _RET_KILL),
        (_LD_W_ABS, 0, 0, _OFF_NR),
    ]
    if ARCH == "x86_64":  # the x32 ABI's numbers have bit 30 set: never allowed
        program += [(0x35, 0, 1, 0x40000000), (_RET_K, 0, 0, _RET_KILL)]  # JGE
    for name in (n for n in _DENIED if n in numbers):  # aarch64 has no fork or vfork
        program += [(_JEQ_K, 0, 1, numbers[name]), (_RET_K, 0, 0, _errno(errno.EPERM))]
    # clone3's flags are behind a pointer: refuse it, so that libc falls back to clone, whose flags we can read
    program += [(_JEQ_K, 0, 1, numbers["clone3"]), (_RET_K, 0, 0, _errno(errno.ENOSYS))]
    # clone: a thread of this process, never a new process (no fork bomb) or namespace
    program += [
        (_JEQ_K, 0, 5, numbers["clone"]),
        (_LD_W_ABS, 0, 0, _OFF_ARG0),
        (_JSET_K, 2, 0, _CLONE_NAMESPACES & 0xFFFFFFFF),
        (_JSET_K, 0, 1, _CLONE_THREAD),
        (_RET_K, 0, 0, _RET_ALLOW),
        (_RET_K, 0, 0, _errno(errno.EPERM)),
    ]
    # kill and tgkill: only this process itself (a signal to a thread of its own, or to its own pid)
    for name in ("kill", "tgkill"):
        program += [
            (_LD_W_ABS, 0, 0, _OFF_NR),
            (_JEQ_K, 0, 5, numbers[name]),
            (_LD_W_ABS, 0, 0, _OFF_ARG0_HI),
            (_JEQ_K, 0, 2, 0),
            (_LD_W_ABS, 0, 0, _OFF_ARG0),
            (_JEQ_K, 1, 0, pid),
            (_RET_K, 0, 0, _errno(errno.EPERM)),
        ]
    program.append((_RET_K, 0, 0, _RET_ALLOW))
    return program


def seccomp() -> None:
    """Install the filter (see the module docstring for what it refuses); needs ``PR_SET_NO_NEW_PRIVS``."""
    program = _seccomp_program(os.getpid())
    filters = b"".join(struct.pack("=HBBI", code, jt, jf, k) for code, jt, jf, k in program)
    buffer = ctypes.create_string_buffer(filters, len(filters))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(len(program), ctypes.cast(buffer, ctypes.c_void_p))
    no_new_privs()
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        code = ctypes.get_errno()
        raise ConfinementError(code, f"seccomp filter: {os.strerror(code)}")
