"""Removes the symbol tables from ELF shared libraries, as ``strip`` does, in portable Python.

The wheels on PyPI ship their libraries with ``.symtab`` and ``.strtab`` (pyarrow's libarrow: 10 MB of its 49 MB).
The dynamic loader reads only ``.dynsym`` and ``.dynstr``, which stay; so does everything the program headers
map. GNU strip does this on Linux, but a macOS build host has no ELF strip, so the layer build does it here.

Only the safe case is handled: 64-bit little-endian ELF whose removed sections are not mapped and come after
every mapped section in the section table, so that no section index that ``.dynsym`` refers to changes. Any
other file is left as it is.
"""

from __future__ import annotations

import struct
from pathlib import Path

ELF_MAGIC = b"\x7fELF"
SHF_ALLOC = 0x2
SHF_INFO_LINK = 0x40
SHT_SYMTAB, SHT_STRTAB, SHT_NOBITS, SHT_REL, SHT_RELA = 2, 3, 8, 9, 4
_SECTION = struct.Struct("<IIQQQQIIQQ")  # name type flags addr offset size link info addralign entsize
_SEGMENT = struct.Struct("<IIQQQQQQ")  # type flags offset vaddr paddr filesz memsz align


def is_elf(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(4) == ELF_MAGIC


def _section_name(data: bytes, names_offset: int, name: int) -> str:
    start = names_offset + name
    return data[start : data.index(b"\0", start)].decode("ascii", "replace")


def strip_symbols(path: Path) -> int:
    """Strip ``path`` in place when it is safe; returns the bytes saved (0 when left alone)."""
    data = path.read_bytes()
    if data[:4] != ELF_MAGIC or data[4] != 2 or data[5] != 1:  # ELFCLASS64, little-endian
        return 0
    phoff, shoff = struct.unpack_from("<QQ", data, 0x20)
    phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from("<HHHHH", data, 0x36)
    if shoff == 0 or shnum == 0 or shentsize != _SECTION.size or phentsize != _SEGMENT.size:
        return 0
    sections = [list(_SECTION.unpack_from(data, shoff + i * shentsize)) for i in range(shnum)]
    names_offset = sections[shstrndx][4]

    drop = set()
    for index, section in enumerate(sections):
        name = _section_name(data, names_offset, section[0])
        if section[1] == SHT_SYMTAB:
            drop.add(index)
            linked = section[6]
            if linked != shstrndx and sections[linked][1] == SHT_STRTAB and not sections[linked][2] & SHF_ALLOC:
                drop.add(linked)
        elif name.startswith((".debug", ".zdebug")) and not section[2] & SHF_ALLOC:
            drop.add(index)
    if not drop:
        return 0
    mapped = [i for i, s in enumerate(sections) if s[2] & SHF_ALLOC]
    if min(drop) <= max(mapped, default=0):
        return 0  # an index that .dynsym refers to would move
    if any(sections[i][6] in drop for i in range(shnum) if i not in drop):
        return 0  # something we keep refers to what we would drop

    # Everything up to the end of the mapped content is copied as it is; kept unmapped sections after it
    # (.comment, .shstrtab, ...) are appended; then a new section table.
    end = max(
        [
            o + fs
            for _, _, o, _, _, fs, _, _ in (_SEGMENT.unpack_from(data, phoff + i * phentsize) for i in range(phnum))
        ]
        + [s[4] + s[5] for s in sections if s[2] & SHF_ALLOC and s[1] != SHT_NOBITS]
        + [phoff + phnum * phentsize]
    )
    out = bytearray(data[:end])
    renumber = {}
    kept = []
    for index, section in enumerate(sections):
        if index in drop:
            continue
        renumber[index] = len(kept)
        if index and not section[2] & SHF_ALLOC and section[1] != SHT_NOBITS and section[4] >= end:
            align = max(1, section[8])
            out += b"\0" * (-len(out) % align)
            out += data[section[4] : section[4] + section[5]]
            kept.append([*section[:4], len(out) - section[5], *section[5:]])
        else:
            kept.append(section)
    for section in kept:
        section[6] = renumber.get(section[6], 0)
        if section[1] in (SHT_REL, SHT_RELA) or section[2] & SHF_INFO_LINK:
            section[7] = renumber.get(section[7], 0)
    out += b"\0" * (-len(out) % 8)
    table = len(out)
    for section in kept:
        out += _SECTION.pack(*section)
    struct.pack_into("<Q", out, 0x28, table)
    struct.pack_into("<HH", out, 0x3C, len(kept), renumber[shstrndx])
    if len(out) >= len(data):
        return 0
    path.write_bytes(bytes(out))
    return len(data) - len(out)
