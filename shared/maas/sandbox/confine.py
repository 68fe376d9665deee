"""Confining the current process with what the Linux kernel offers: Landlock, seccomp, namespaces, rlimits.

A model host (``maas.sandbox.host``) calls these once, after importing its runtime and before it opens the
tenant's artifact, so that the code in the artifact runs with:

- **Landlock** (ABI 1 and newer): reads only below the directories it is given (its artifact, the runtime's
  own code), writes only below its scratch directory; from ABI 4 no TCP bind or connect; from ABI 6 no signals
  to, and no abstract unix sockets of, processes outside the sandbox.
- **seccomp**: no new sockets, no new processes (threads only), no ``execve``, no ``ptrace`` or access to
  other processes' memory, no mounts, namespaces, keyrings, BPF, io_uring, kernel modules or file handles, and
  no signals but to itself.
- **a network namespace** of its own (no interfaces but a loopback that is down) where the kernel lets it make
  one; ``PR_SET_NO_NEW_PRIVS``; ``RLIMIT_AS`` (memory), ``RLIMIT_FSIZE``, ``RLIMIT_NOFILE``, ``RLIMIT_CORE``.

Everything here is plain syscalls through ctypes (no dependency), for x86_64 and aarch64 Linux. ``probe()``
says what this host offers without changing anything.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import resource
import struct
from dataclasses import dataclass, field

_ARCH = platform.machine()
_SYSCALLS = {
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
_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}

# Landlock access rights (include/uapi/linux/landlock.h)
FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
FS_REMOVE_DIR, FS_REMOVE_FILE, FS_MAKE_CHAR, FS_MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
FS_MAKE_REG, FS_MAKE_SOCK, FS_MAKE_FIFO, FS_MAKE_BLOCK, FS_MAKE_SYM = 1 << 8, 1 << 9, 1 << 10, 1 << 11, 1 << 12
FS_REFER, FS_TRUNCATE, FS_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}
_FILE_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1
READ = FS_READ_FILE | FS_READ_DIR
READ_EXECUTE = READ | FS_EXECUTE
READ_WRITE = READ | FS_WRITE_FILE | FS_REMOVE_DIR | FS_REMOVE_FILE | FS_MAKE_DIR | FS_MAKE_REG | FS_TRUNCATE
# a model host's scratch: plain files at its top level only, so that what it holds is one listing away
SCRATCH = READ | FS_WRITE_FILE | FS_REMOVE_FILE | FS_MAKE_REG | FS_TRUNCATE

_PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 38, 22, 2
_CLONE_NEWNET, _CLONE_NEWUSER = 0x40000000, 0x10000000
_CLONE_THREAD = 0x00010000
_CLONE_NAMESPACES = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class ConfinementError(OSError):
    """The kernel refused a restriction that was asked for."""


@dataclass
class Confinement:
    """What was applied to this process (``landlock_abi`` 0: none)."""

    landlock_abi: int = 0
    seccomp: bool = False
    network_namespace: bool = False
    memory_limit: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def confined(self) -> bool:
        """Files and network both closed off: Landlock and seccomp took effect."""
        return self.landlock_abi > 0 and self.seccomp


def _syscall(name: str, *args: object) -> int:
    numbers = _SYSCALLS.get(_ARCH)
    if numbers is None:
        raise ConfinementError(errno.ENOSYS, f"no syscall table for {_ARCH}")
    result = int(_libc.syscall(numbers[name], *args))
    if result < 0:
        code = ctypes.get_errno()
        raise ConfinementError(code, f"{name}: {os.strerror(code)}")
    return result


def landlock_abi() -> int:
    """The Landlock ABI this kernel offers; 0 when it offers none (or it is disabled at boot)."""
    if _ARCH not in _SYSCALLS or platform.system() != "Linux":
        return 0
    try:
        return _syscall("landlock_create_ruleset", None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    except ConfinementError:
        return 0


def seccomp_available() -> bool:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            return any(line.startswith("Seccomp:") for line in status)
    except OSError:
        return False


@dataclass(frozen=True)
class HostSupport:
    landlock_abi: int
    seccomp: bool

    @property
    def can_confine(self) -> bool:
        return self.landlock_abi > 0 and self.seccomp

    def describe(self) -> str:
        landlock = f"Landlock ABI {self.landlock_abi}" if self.landlock_abi else "no Landlock"
        return f"{landlock}, {'seccomp' if self.seccomp else 'no seccomp'}"


def probe() -> HostSupport:
    """What this host offers for confining tenant code, without changing anything."""
    return HostSupport(landlock_abi(), _ARCH in _AUDIT_ARCH and seccomp_available())


# --- namespaces and limits ----------------------------------------------------------------------------------------
def isolate_network() -> bool:
    """Move this process into a network namespace of its own (as root, or through a user namespace).

    Call it before any thread starts (a user namespace needs a single-threaded process). Returns whether it
    took effect; seccomp and Landlock deny the network either way.
    """
    return any(_libc.unshare(ctypes.c_int(flags)) == 0 for flags in (_CLONE_NEWNET, _CLONE_NEWUSER | _CLONE_NEWNET))


def limit_resources(*, memory_bytes: int | None, file_bytes: int, open_files: int = 256) -> int | None:
    """rlimits: address space (``memory_bytes`` more than now), file size, open files, no core dumps."""
    applied = None
    if memory_bytes is not None:
        applied = _address_space() + memory_bytes
        resource.setrlimit(resource.RLIMIT_AS, (applied, applied))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = open_files if hard == resource.RLIM_INFINITY else min(open_files, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
    return applied


def _address_space() -> int:
    """This process's virtual size now (the limit is set relative to it: the runtime is already mapped)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[0]) * resource.getpagesize()
    except OSError:
        return 0


# --- Landlock ------------------------------------------------------------------------------------------------
def landlock(rules: dict[str, int], abi: int) -> None:
    """Allow ``rules`` (path -> access rights beneath it) and nothing else of the file system; no TCP; scoped."""
    handled_fs = _FS_BY_ABI[max(k for k in _FS_BY_ABI if k <= abi)]
    handled_net = NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0
    scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0
    attr = struct.pack("=QQQ", handled_fs, handled_net, scoped)
    size = 8 if abi < 4 else (16 if abi < 6 else 24)
    buffer = ctypes.create_string_buffer(attr[:size], size)
    ruleset = _syscall("landlock_create_ruleset", buffer, ctypes.c_size_t(size), ctypes.c_uint32(0))
    try:
        for path, access in rules.items():
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            try:
                allowed = access & handled_fs
                if not os.path.isdir(path):
                    allowed &= _FILE_RIGHTS
                rule = ctypes.create_string_buffer(struct.pack("=Qi", allowed, fd), 12)
                _syscall("landlock_add_rule", ctypes.c_int(ruleset), ctypes.c_int(1), rule, ctypes.c_uint32(0))
            finally:
                os.close(fd)
        _no_new_privs()
        _syscall("landlock_restrict_self", ctypes.c_int(ruleset), ctypes.c_uint32(0))
    finally:
        os.close(ruleset)


def _no_new_privs() -> None:
    if _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        code = ctypes.get_errno()
        raise ConfinementError(code, f"PR_SET_NO_NEW_PRIVS: {os.strerror(code)}")


# --- seccomp -------------------------------------------------------------------------------------------------
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
    numbers = _SYSCALLS[_ARCH]
    program: list[tuple[int, int, int, int]] = [
        (_LD_W_ABS, 0, 0, _OFF_ARCH),
        (_JEQ_K, 1, 0, _AUDIT_ARCH[_ARCH]),
        (_RET_K, 0, 0, _RET_KILL),
        (_LD_W_ABS, 0, 0, _OFF_NR),
    ]
    if _ARCH == "x86_64":  # the x32 ABI's numbers have bit 30 set: never allowed
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
    _no_new_privs()
    if _libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        code = ctypes.get_errno()
        raise ConfinementError(code, f"seccomp filter: {os.strerror(code)}")


def confine(
    rules: dict[str, int],
    *,
    memory_bytes: int | None,
    file_bytes: int = 64 * 1024 * 1024,
    network_namespace: bool = False,
) -> Confinement:
    """Apply every restriction this host offers; returns what took effect. Irreversible for this process."""
    applied = Confinement(network_namespace=network_namespace)
    support = probe()  # before Landlock: it reads /proc, which Landlock then closes
    applied.memory_limit = limit_resources(memory_bytes=memory_bytes, file_bytes=file_bytes)
    # Each mechanism on its own: a kernel (or a container's own filter) that refuses one leaves the others, and
    # the caller decides from ``confined`` whether what took effect is enough.
    abi = support.landlock_abi
    if not abi:
        applied.notes.append("no Landlock on this kernel")
    else:
        try:
            landlock(rules, abi)
            applied.landlock_abi = abi
        except ConfinementError as exc:
            applied.notes.append(f"Landlock refused: {exc}")
    if not support.seccomp:
        applied.notes.append("no seccomp on this kernel")
    else:
        try:
            seccomp()
            applied.seccomp = True
        except ConfinementError as exc:
            applied.notes.append(f"seccomp refused: {exc}")
    return applied
