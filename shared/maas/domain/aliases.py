"""Alias records: named, movable pointers at versions, with weighted routes (canary) and a shadow.

An alias holds one or more routes ``{version, weight}`` (weights sum to 100) and optionally a shadow
``{version, sample_rate}``. Every change bumps its revision, which is its ETag; each change keeps the previous
state in the history. ``maas.aliases`` changes them; these are the records every layer reads.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, model_validator

from maas.domain import utcnow
from maas.errors import PreconditionFailedError

DEFAULT_ALIAS = "production"


_ALIAS_NAME = re.compile(r"[a-z][a-z0-9_-]{0,62}")


def _check_alias_name(value: str) -> str:
    if not _ALIAS_NAME.fullmatch(value):
        raise ValueError(
            "an alias is 1 to 63 characters: lowercase letters, digits, '-' and '_', starting with a letter"
        )
    return value


AliasName = Annotated[str, AfterValidator(_check_alias_name)]


def is_alias_name(ref: str) -> bool:
    return bool(_ALIAS_NAME.fullmatch(ref))


class Route(BaseModel):
    version: int = Field(ge=1)
    weight: int = Field(ge=1, le=100)


class Shadow(BaseModel):
    version: int = Field(ge=1)
    sample_rate: float = Field(gt=0, le=1)


class AliasTarget(BaseModel):
    routes: list[Route] = Field(min_length=1, max_length=10)
    shadow: Shadow | None = None

    @model_validator(mode="after")
    def _weights(self) -> AliasTarget:
        if sum(r.weight for r in self.routes) != 100:
            raise ValueError("route weights must sum to 100")
        if len({r.version for r in self.routes}) != len(self.routes):
            raise ValueError("each version may appear in one route only")
        if self.shadow and self.shadow.version in {r.version for r in self.routes}:
            raise ValueError("the shadow version must not also take live traffic")
        return self

    @property
    def versions(self) -> set[int]:
        out = {r.version for r in self.routes}
        if self.shadow:
            out.add(self.shadow.version)
        return out


class AliasState(BaseModel):
    revision: int
    routes: list[Route]
    shadow: Shadow | None = None
    updated_at: datetime
    updated_by: str


class Alias(BaseModel):
    tenant_id: str
    model: str
    name: str
    routes: list[Route]
    shadow: Shadow | None = None
    revision: int = 1
    updated_at: datetime = Field(default_factory=utcnow)
    updated_by: str = ""
    history: list[AliasState] = Field(default_factory=list)

    @property
    def etag(self) -> str:
        return f'"{self.revision}"'

    @property
    def target(self) -> AliasTarget:
        return AliasTarget(routes=self.routes, shadow=self.shadow)

    def state(self) -> AliasState:
        return AliasState(
            revision=self.revision,
            routes=self.routes,
            shadow=self.shadow,
            updated_at=self.updated_at,
            updated_by=self.updated_by,
        )


def parse_etag(if_match: str | None) -> int | None:
    """``If-Match: "3"`` -> 3; absent -> None (an unconditional update); ``*`` -> None."""
    if if_match is None or if_match.strip() == "*":
        return None
    text = if_match.strip().removeprefix("W/").strip('"')
    if not text.isascii() or not text.isdigit():
        raise PreconditionFailedError(f"If-Match {if_match!r} is not an ETag of this alias")
    return int(text)
