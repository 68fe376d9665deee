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
import os
import platform
import resource
import struct
from dataclasses import dataclass, field

from maas.sandbox.seccomp import AUDIT_ARCH, seccomp, seccomp_available
from maas.sandbox.syscalls import ARCH, SYSCALLS, ConfinementError, libc, no_new_privs, syscall

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

_CLONE_NEWNET, _CLONE_NEWUSER = 0x40000000, 0x10000000


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


def landlock_abi() -> int:
    """The Landlock ABI this kernel offers; 0 when it offers none (or it is disabled at boot)."""
    if ARCH not in SYSCALLS or platform.system() != "Linux":
        return 0
    try:
        return syscall("landlock_create_ruleset", None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    except ConfinementError:
        return 0


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
    return HostSupport(landlock_abi(), ARCH in AUDIT_ARCH and seccomp_available())


# --- namespaces and limits ----------------------------------------------------------------------------------------
def isolate_network() -> bool:
    """Move this process into a network namespace of its own (as root, or through a user namespace).

    Call it before any thread starts (a user namespace needs a single-threaded process). Returns whether it
    took effect; seccomp and Landlock deny the network either way.
    """
    return any(libc.unshare(ctypes.c_int(flags)) == 0 for flags in (_CLONE_NEWNET, _CLONE_NEWUSER | _CLONE_NEWNET))


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
    ruleset = syscall("landlock_create_ruleset", buffer, ctypes.c_size_t(size), ctypes.c_uint32(0))
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
                syscall("landlock_add_rule", ctypes.c_int(ruleset), ctypes.c_int(1), rule, ctypes.c_uint32(0))
            finally:
                os.close(fd)
        no_new_privs()
        syscall("landlock_restrict_self", ctypes.c_int(ruleset), ctypes.c_uint32(0))
    finally:
        os.close(ruleset)


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
