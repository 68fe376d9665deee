"""The two query parameters of every listing: a page's ``limit`` and the ``next_token`` of the page before.

A listing answers ``next_token`` while more may follow; a token is opaque (``maas.domain.paging``), and one that
this listing did not give to this tenant is a 400.
"""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

DEFAULT_PAGE = 100

PageLimit = Annotated[int, Query(ge=1, le=1000, description="items per page")]
PageToken = Annotated[
    str | None, Query(min_length=1, max_length=2048, description="the next_token of the previous page")
]
