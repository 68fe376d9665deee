"""Access records: grants that share a model with another tenant, their quotas, and the model a request reaches."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from maas.domain import utcnow
from maas.errors import ForbiddenError


class Action(StrEnum):
    INFER = "infer"
    READ = "read"


class Quota(BaseModel):
    requests_per_second: float = Field(gt=0, le=100_000)
    burst: int | None = Field(default=None, ge=1, le=1_000_000)
    max_concurrent_jobs: int | None = Field(default=None, ge=1, le=100_000)


class Grant(BaseModel):
    owner: str
    model: str
    grantee: str
    actions: list[Action]
    aliases: list[str] | None = None
    quota: Quota | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_by: str = ""


@dataclass(frozen=True)
class ModelAccess:
    """The model a request reaches: whose it is, its name there, and the grant it comes through (None: own)."""

    owner: str
    model: str
    grant: Grant | None = None

    def check_ref(self, ref: str | None, default_alias: str) -> None:
        """A grant limited to some aliases admits only those (and no bare version numbers)."""
        if self.grant is None or self.grant.aliases is None:
            return
        if (ref or default_alias) not in self.grant.aliases:
            raise ForbiddenError(f"this grant allows only the aliases {', '.join(self.grant.aliases)}")


def split_ref(ref: str) -> tuple[str | None, str]:
    """``owner.model`` -> (owner, model); a bare name -> (None, name)."""
    owner, sep, name = ref.partition(".")
    return (owner, name) if sep else (None, ref)
