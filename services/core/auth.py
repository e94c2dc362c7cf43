"""Credentials on HTTP requests: the secret key as ``Authorization: Bearer``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from schemas.api import FieldError
from services.core.errors import Unauthorized

if TYPE_CHECKING:
    from litestar import Request

    from services.core.service import Context


async def require_secret_key(request: Request[Any, Any, Any], ctx: Context) -> int:
    """The caller's project id, from a valid secret key; 401 otherwise."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized(
            "a secret key is required",
            [FieldError("Authorization", "expected 'Bearer <secret key>'")],
        )
    project_id = await ctx.projects.by_secret_key(key.strip())
    if project_id is None:
        raise Unauthorized("the secret key is not valid", [FieldError("Authorization", "unknown")])
    return project_id
