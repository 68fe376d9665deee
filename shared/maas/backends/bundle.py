"""ONNX bundles: one tar archive holding ``model.onnx`` and the files its external data names.

A model over protobuf's 2 GB cannot keep its weights inside the ``.onnx`` file. It is uploaded as a bundle
(``maas models register`` builds one): an uncompressed tar whose top level has ``model.onnx``, beside the data
files it names by relative path. Validation (and each model cache, every time it loads) unpacks it into the
version's own empty directory, after checking every member: a plain file or a directory, a name that stays
inside the bundle (no ``..``, no absolute name, no link of any kind), sizes within the limit. The model's
external data may then name only the bundle's own files.

    members = check_bundle("model.tar", max_bytes=8 << 30)
    unpack_bundle("model.tar", "/private/dir/bundle", max_bytes=8 << 30)
"""

from __future__ import annotations

import os
import posixpath
import tarfile
from dataclasses import dataclass
from pathlib import Path

ENTRY = "model.onnx"
MAX_MEMBERS = 10_000
_TAR_MAGIC_OFFSET = 257


class BundleError(ValueError):
    """The archive is not a bundle this platform unpacks; the message says which member and why."""


@dataclass(frozen=True)
class BundleMember:
    name: str
    size: int
    is_dir: bool


def is_tar(head: bytes) -> bool:
    """Whether the first 512 bytes of a file are a POSIX (ustar) tar header."""
    return head[_TAR_MAGIC_OFFSET : _TAR_MAGIC_OFFSET + 5] == b"ustar"


def _safe_name(raw: str) -> str:
    if not raw or "\x00" in raw or "\\" in raw or len(raw) > 1024:
        raise BundleError(f"member name {raw[:80]!r} is not allowed")
    if raw.startswith("/"):
        raise BundleError(f"member {raw[:80]!r} has an absolute name")
    name = posixpath.normpath(raw)
    if name == ".." or name.startswith("../") or "/../" in f"/{raw}/":
        raise BundleError(f"member {raw[:80]!r} reaches outside the bundle ('..')")
    return name


def check_bundle(path: str | Path, *, max_bytes: int) -> list[BundleMember]:
    """Every member of the bundle, checked; raises ``BundleError`` at the first that is not allowed."""
    members: list[BundleMember] = []
    total = 0
    try:
        with tarfile.open(path, mode="r:") as archive:
            for info in archive:
                if len(members) >= MAX_MEMBERS:
                    raise BundleError(f"the bundle has more than {MAX_MEMBERS} members")
                name = _safe_name(info.name)
                if info.isdir():
                    members.append(BundleMember(name, 0, True))
                    continue
                if not info.isreg() or info.issparse():
                    kind = "link" if info.issym() or info.islnk() else "special file"
                    raise BundleError(f"member {name[:80]!r} is a {kind}; a bundle holds plain files only")
                total += info.size
                if total > max_bytes:
                    raise BundleError(f"the bundle unpacks to more than the limit of {max_bytes} bytes")
                members.append(BundleMember(name, info.size, False))
    except tarfile.TarError as exc:
        raise BundleError("the archive is not a readable tar file") from exc
    names = [m.name for m in members if not m.is_dir]
    if len(set(names)) != len(names):
        raise BundleError("the bundle names a file twice")
    if ENTRY not in names:
        raise BundleError(f"the bundle has no {ENTRY} at its top level")
    return members


def unpack_bundle(path: str | Path, destination: str | Path, *, max_bytes: int) -> list[str]:
    """Check, then write each file under ``destination`` (which must not exist); returns the files' names."""
    members = {m.name: m for m in check_bundle(path, max_bytes=max_bytes)}
    root = Path(destination)
    root.mkdir(mode=0o700)
    try:
        return _write_members(path, root, members)
    except OSError as exc:  # a file and a directory of one name, say: the names were checked, the layout fails
        raise BundleError(f"the bundle cannot be unpacked ({exc.__class__.__name__})") from exc


def files_beside(entry: str | Path) -> list[str]:
    """The files under an unpacked bundle's directory, by the relative names its external data uses."""
    root = Path(entry).parent
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and p != Path(entry))


def _write_members(path: str | Path, root: Path, members: dict[str, BundleMember]) -> list[str]:
    written: list[str] = []
    with tarfile.open(path, mode="r:") as archive:
        for info in archive:
            name = posixpath.normpath(info.name)
            member = members.get(name)
            if member is None or member.is_dir:
                continue
            target = root.joinpath(*name.split("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            source = archive.extractfile(info)
            assert source is not None  # a regular member
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
            with source, os.fdopen(os.open(target, flags, 0o600), "wb") as out:
                remaining = member.size
                while remaining:
                    chunk = source.read(min(remaining, 1 << 20))
                    if not chunk:
                        raise BundleError(f"member {name[:80]!r} is shorter than its header says")
                    out.write(chunk)
                    remaining -= len(chunk)
            os.chmod(target, 0o444)
            written.append(name)
    return written
