"""How the CLI prints what the API answered: JSON, tables, a version's signature."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

FORMATS = ("json", "table")
_chosen: str | None = None
"""``--output``: None keeps each command's own choice (tables for listings, JSON for one object)."""


def choose_format(name: str | None) -> None:
    global _chosen  # noqa: PLW0603  (one choice per process, made once by maas.cli.main)
    _chosen = name


def wants_json() -> bool:
    return _chosen == "json"


def plain(value: Any) -> Any:
    """What the SDK answered (pydantic models, lists of them, iterators of pages) as JSON values."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", exclude_unset=True)  # what the API sent, no more
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple) or hasattr(value, "__next__"):
        return [plain(v) for v in value]
    return value


def print_json(value: Any) -> None:
    """One object: JSON, or with ``--output table`` a field per line (nested values as compact JSON)."""
    value = plain(value)
    if _chosen == "table" and isinstance(value, dict):
        _print_fields(value)
        return
    print(json.dumps(value, indent=2))


def _print_fields(value: dict[str, Any]) -> None:
    width = max((len(k) for k in value), default=0)
    for key, field in value.items():
        shown = plain_cell(field) if not isinstance(field, dict | list) else json.dumps(field, separators=(",", ":"))
        print(f"{key.upper().ljust(width)}  {shown}")


def plain_cell(value: Any) -> str:
    return "-" if value is None else str(value)


def print_table(rows: Iterable[Any], columns: list[str], cell: Callable[[Any], str] = plain_cell) -> None:
    """One upper-case header line, then a line per row; a missing or null value shows as ``-``. With
    ``--output json``, the rows themselves, for scripts."""
    rows = plain(rows)
    if _chosen == "json":
        print(json.dumps(rows, indent=2))
        return
    widths = {c: max([len(c)] + [len(cell(r.get(c))) for r in rows]) for c in columns}
    print("  ".join(c.upper().ljust(widths[c]) for c in columns))
    for row in rows:
        print("  ".join(cell(row.get(c)).ljust(widths[c]) for c in columns))


def print_done(sentence: str, result: dict[str, Any]) -> None:
    """A command that changed something: a sentence for people, or with ``--output json`` an object for scripts."""
    if _chosen == "json":
        print(json.dumps(plain(result), indent=2))
        return
    print(sentence)


def print_signature(version: Any) -> None:
    signature = plain(version).get("signature") or {}
    for kind in ("inputs", "outputs"):
        for spec in signature.get(kind, []):
            print(f"  {kind[:-1]:6}  {spec['name']:24} {spec['datatype']:6} {spec['shape']}")
