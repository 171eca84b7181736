"""The path and query parameters every concern's router shares (an id in the path, a page's limit and cursor) and
the 201 answer the document states: their own module, so a router imports them without another concern's routes
(the resolver includes each router on its concern's first request: billing.api.app)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Path, Query

Id = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_]+$")]
Limit = Annotated[int, Query(ge=1, le=100)]
CREATED: dict[int, Any] = {201: {"description": "Created"}}  # the routes that answer 201 say so in the document
Cursor = Annotated[str | None, Query(max_length=2048)]
