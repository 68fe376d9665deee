"""How the CLI prints what the API answered: JSON, tables, a version's signature."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2))


def plain_cell(value: Any) -> str:
    return "-" if value is None else str(value)


def print_table(rows: list[dict[str, Any]], columns: list[str], cell: Callable[[Any], str] = plain_cell) -> None:
    """One upper-case header line, then a line per row; a missing or null value shows as ``-``."""
    widths = {c: max([len(c)] + [len(cell(r.get(c))) for r in rows]) for c in columns}
    print("  ".join(c.upper().ljust(widths[c]) for c in columns))
    for row in rows:
        print("  ".join(cell(row.get(c)).ljust(widths[c]) for c in columns))


def print_signature(version: dict[str, Any]) -> None:
    signature = version.get("signature") or {}
    for kind in ("inputs", "outputs"):
        for spec in signature.get(kind, []):
            print(f"  {kind[:-1]:6}  {spec['name']:24} {spec['datatype']:6} {spec['shape']}")
