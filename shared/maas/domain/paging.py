"""Pages of a listing: a list that also carries the opaque token of the next page.

A token is the base64url of the DynamoDB key the next page starts after (``{"PK": ..., "SK": ...}``, its
LastEvaluatedKey). It is opaque to clients and checked on the way back in: one made for another tenant or
another listing, or garbage, is a 400 (``InvalidRequestError``), never a page of someone else's items.
The in-memory fakes make the same tokens, so that a contract test can compare them.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

from maas.errors import InvalidRequestError

T = TypeVar("T")
MAX_TOKEN_CHARS = 2048


class Page(list[T], Generic[T]):
    """The items of one page (it is a list), and ``next_token`` when more may follow."""

    def __init__(self, items: Iterable[T] = (), next_token: str | None = None) -> None:
        super().__init__(items)
        self.next_token = next_token


def encode_token(key: dict[str, str]) -> str:
    """``{"PK": "T#acme", "SK": "MODEL#m1"}`` -> an opaque, URL-safe token (no padding)."""
    raw = json.dumps(key, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, pk: str, prefix: str) -> str:
    """The sort key a page starts after; InvalidRequestError unless the token is one of ``pk``'s ``prefix`` items."""
    invalid = InvalidRequestError("next_token is not a token this listing gave out")
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise invalid
    try:
        key = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise invalid from None
    if not isinstance(key, dict) or set(key) != {"PK", "SK"} or key["PK"] != pk:
        raise invalid
    sk = key["SK"]
    if not isinstance(sk, str) or not sk.startswith(prefix):
        raise invalid
    return sk


def page_of(
    rows: Iterable[tuple[str, T]],
    pk: str,
    prefix: str,
    *,
    limit: int | None,
    next_token: str | None,
    newest_first: bool = False,
    keep: Callable[[T], bool] | None = None,
) -> Page[T]:
    """One page of ``(sort key, item)`` rows, as a DynamoDB query of ``pk`` / ``prefix`` pages them.

    Rows after the token's key, in key order (descending with ``newest_first``); ``keep`` filters them as a
    FilterExpression would; a next token when any row (kept or not) follows the last one returned.
    """
    ordered = sorted(((sk, item) for sk, item in rows if sk.startswith(prefix)), key=lambda r: r[0])
    if newest_first:
        ordered.reverse()
    if next_token is not None:
        after = decode_token(next_token, pk, prefix)
        ordered = [r for r in ordered if (r[0] < after if newest_first else r[0] > after)]
    return collect(iter(ordered), pk, limit=limit, keep=keep)


def collect(
    rows: Iterable[tuple[str, T]], pk: str, *, limit: int | None, keep: Callable[[T], bool] | None = None
) -> Page[T]:
    """Take kept rows up to ``limit``; the token names the last one taken when another row follows it."""
    found: list[T] = []
    last = ""
    for sk, item in rows:
        if limit is not None and len(found) >= limit:
            return Page(found, encode_token({"PK": pk, "SK": last}))
        if keep is None or keep(item):
            found.append(item)
            last = sk
    return Page(found)
