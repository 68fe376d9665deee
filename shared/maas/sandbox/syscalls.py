"""Plain Linux syscalls through ctypes, for x86_64 and aarch64: the numbers the sandbox needs and one caller."""

from __future__ import annotations

import ctypes
import errno
import os
import platform

ARCH = platform.machine()
SYSCALLS = {
    # x86_64 numbers; aarch64 uses the generic table
    "x86_64": {
        "landlock_create_ruleset": 444,
        "landlock_add_rule": 445,
        "landlock_restrict_self": 446,
        "socket": 41,
        "connect": 42,
        "accept": 43,
        "bind": 49,
        "listen": 50,
        "accept4": 288,
        "execve": 59,
        "execveat": 322,
        "ptrace": 101,
        "process_vm_readv": 310,
        "process_vm_writev": 311,
        "mount": 165,
        "umount2": 166,
        "pivot_root": 155,
        "chroot": 161,
        "unshare": 272,
        "setns": 308,
        "bpf": 321,
        "perf_event_open": 298,
        "userfaultfd": 323,
        "keyctl": 250,
        "add_key": 248,
        "request_key": 249,
        "kexec_load": 246,
        "init_module": 175,
        "finit_module": 313,
        "delete_module": 176,
        "io_uring_setup": 425,
        "io_uring_enter": 426,
        "io_uring_register": 427,
        "open_by_handle_at": 304,
        "name_to_handle_at": 303,
        "fanotify_init": 300,
        "clone": 56,
        "clone3": 435,
        "fork": 57,
        "vfork": 58,
        "kill": 62,
        "tkill": 200,
        "tgkill": 234,
    },
    "aarch64": {
        "landlock_create_ruleset": 444,
        "landlock_add_rule": 445,
        "landlock_restrict_self": 446,
        "socket": 198,
        "connect": 203,
        "accept": 202,
        "bind": 200,
        "listen": 201,
        "accept4": 242,
        "execve": 221,
        "execveat": 281,
        "ptrace": 117,
        "process_vm_readv": 270,
        "process_vm_writev": 271,
        "mount": 40,
        "umount2": 39,
        "pivot_root": 41,
        "chroot": 51,
        "unshare": 97,
        "setns": 268,
        "bpf": 280,
        "perf_event_open": 241,
        "userfaultfd": 282,
        "keyctl": 219,
        "add_key": 217,
        "request_key": 218,
        "kexec_load": 104,
        "init_module": 105,
        "finit_module": 273,
        "delete_module": 106,
        "io_uring_setup": 425,
        "io_uring_enter": 426,
        "io_uring_register": 427,
        "open_by_handle_at": 265,
        "name_to_handle_at": 264,
        "fanotify_init": 262,
        "clone": 220,
        "clone3": 435,
        "kill": 129,
        "tkill": 130,
        "tgkill": 131,
    },
}
PR_SET_NO_NEW_PRIVS = 38

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


class ConfinementError(OSError):
    """The kernel refused a restriction that was asked for."""


def syscall(name: str, *args: object) -> int:
    numbers = SYSCALLS.get(ARCH)
    if numbers is None:
        raise ConfinementError(errno.ENOSYS, f"no syscall table for {ARCH}")
    result = int(libc.syscall(numbers[name], *args))
    if result < 0:
        code = ctypes.get_errno()
        raise ConfinementError(code, f"{name}: {os.strerror(code)}")
    return result


def no_new_privs() -> None:
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        code = ctypes.get_errno()
        raise ConfinementError(code, f"PR_SET_NO_NEW_PRIVS: {os.strerror(code)}")
