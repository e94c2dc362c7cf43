"""Who is asking: a secret key (``Authorization: Bearer``) or the player pages' session cookie."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services.core.auth import require_secret_key
from services.core.websession import WebSession

if TYPE_CHECKING:
    from litestar import Request

    from services.core.service import Context

# The pages' session: its own cookie, path and MAC context, so an experiments dashboard cookie is
# never valid here and the other way round.
SESSION = WebSession(
    cookie="devflow_replays_session", path="/replays", context=b"devflow/replays/session"
)


async def project_of(request: Request[Any, Any, Any], ctx: Context) -> int:
    """The caller's project: from the secret key when one is sent, else from a session cookie."""
    if "authorization" not in request.headers:
        project_id = await SESSION.project(request, ctx)
        if project_id is not None:
            return project_id
    return await require_secret_key(request, ctx)
