"""API keys: generated once, shown once, stored only as a SHA-256 hash.

A key reads ``mk_<tenant>_<key id>_<secret>``. Carrying the tenant and key id lets the authorizer fetch exactly
one item (whose partition is the tenant, like every item) and compare hashes in constant time; the 256-bit
secret is what makes it unguessable, so a fast hash is the right one (as GitHub and Stripe tokens do).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import NamedTuple

PREFIX = "mk"


class ParsedKey(NamedTuple):
    tenant_id: str
    key_id: str


def new_key(tenant_id: str) -> tuple[str, str]:
    """Return ``(key_id, api_key)`` for a fresh key of ``tenant_id``."""
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return key_id, f"{PREFIX}_{tenant_id}_{key_id}_{secret}"


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def parse_key(api_key: str) -> ParsedKey | None:
    """Split a presented key; None when it cannot be one of ours (then no lookup is made)."""
    parts = api_key.split("_", 3)
    if len(parts) != 4 or parts[0] != PREFIX or len(api_key) > 200:
        return None
    _, tenant_id, key_id, secret = parts
    if not tenant_id or len(key_id) != 16 or len(secret) < 32:
        return None
    return ParsedKey(tenant_id, key_id)


def matches(api_key: str, key_hash: str) -> bool:
    return hmac.compare_digest(hash_key(api_key), key_hash)
