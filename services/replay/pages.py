"""The player pages: server-rendered under ``/replays``, signed in with the browser session.

``/replays`` lists recordings with the API's filters; ``/replays/{session_id}`` plays one in
rrweb-player (installed by npm in ``services/replay/web``, served from its ``node_modules``) beside
a timeline of the session's analytics events. The page's script reads the recording and the events
from page-scoped JSON routes (``/replays/data/…``), which take the same session cookie (its path is
``/replays``); the JSON API under ``/api/replays`` takes a secret key.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from litestar import MediaType, Request, Response, Router, get
from litestar.params import Parameter
from litestar.response import Stream

from schemas.replay import SessionEvents  # noqa: TC001 - Litestar reads annotations
from services.core import pages
from services.core.errors import Unauthorized
from services.core.http import ctx_of
from services.replay import playback, service
from services.replay.assets import AssetCache
from services.replay.auth import SESSION
from services.replay.errors import AssetNotBuilt, InvalidQuery, ReplayNotFound

if TYPE_CHECKING:
    from schemas.replay import ReplayOut

Req = Request[Any, Any, Any]

_STATIC = resources.files("services.replay") / "static"
_OWN = {
    "replay.css": pages.stylesheet((_STATIC / "replay.css").read_bytes()),
    "player.js": (_STATIC / "player.js").read_bytes(),
}
_TYPES = {".css": "text/css", ".js": "application/javascript"}
# rrweb-player's files in the npm project, by the name the pages use.
_PLAYER_FILES = {
    "rrweb-player.js": "node_modules/rrweb-player/dist/rrweb-player.umd.min.cjs",
    "rrweb-player.css": "node_modules/rrweb-player/dist/style.min.css",
}
_BUILD_HINT = "run `npm ci` in services/replay/web"


def _url(name: str) -> str:
    return f"/replays/static/{name}?v={hashlib.sha256(_OWN[name]).hexdigest()[:12]}"


# The list and login pages load nothing but the stylesheet. The player page runs our script and
# rrweb-player's; the recorded page is rebuilt in a sandboxed iframe (no scripts) that inherits
# this policy, so its own inline styles, images and fonts must be allowed there.
_STRICT = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
_PLAYER = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; "
    "style-src 'self' 'unsafe-inline'; img-src * data: blob:; font-src * data:; "
    "media-src * data: blob:; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
_env = pages.environment("services.replay", area_name="Replays", area_path="/replays")
_env.globals.update(css_url=_url("replay.css"), player_js_url=_url("player.js"))
_assets = AssetCache()


def duration(ms: int) -> str:
    """``1h 02m``, ``4m 05s``, ``12s``."""
    seconds = round(ms / 1000)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def when(moment: datetime) -> str:
    """A moment in UTC to the second, e.g. Mar 4, 09:30:12 UTC."""
    return moment.astimezone(UTC).strftime("%b %-d, %H:%M:%S UTC")


_env.filters.update(duration=duration, when=when)


def _page(template: str, status: int = 200, csp: str = _STRICT, **context: Any) -> Response[str]:
    html = _env.get_template(template).render(**context)
    headers = {**_HEADERS, "Content-Security-Policy": csp}
    return Response(html, status_code=status, media_type=MediaType.HTML, headers=headers)


# -- static files --------------------------------------------------------------------------------


@get("/static/{name:str}")
async def static_file(request: Req, name: str) -> Response[bytes]:
    """The pages' stylesheet and script, and rrweb-player's files; public, cached a day; 404
    for an unknown name or rrweb-player not installed."""
    if name in _OWN:
        body = _OWN[name]
    elif name in _PLAYER_FILES:
        config = service.config_of(ctx_of(request))
        path = config.path(config.web_dir) / _PLAYER_FILES[name]
        body = _assets.get(path, _BUILD_HINT).body
    else:
        raise AssetNotBuilt(f"no static file {name!r}", [])
    media_type = _TYPES["." + name.rpartition(".")[2]]
    headers = {"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"}
    return Response(body, media_type=media_type, headers=headers)


# -- pages ---------------------------------------------------------------------------------------

_FILTERS = ("distinct_id", "url_contains", "date_from", "date_to", "min_duration_s", "errors")


@get("/")
async def replay_list(request: Req) -> Response[Any]:
    """The recordings list with the form's filters, 50 a page; a bad filter is shown on the page.

    Session cookie; without a valid one, 303 to the sign-in form.
    """
    ctx = ctx_of(request)
    project_id = await SESSION.project(request, ctx)
    if project_id is None:
        return SESSION.to_login(request)
    q = {k: v.strip() for k, v in request.query_params.items() if k in _FILTERS and v.strip()}
    error = None
    try:
        minimum = float(q["min_duration_s"]) if "min_duration_s" in q else None
        query = service.ListQuery(
            distinct_id=q.get("distinct_id"),
            url_contains=q.get("url_contains"),
            date_from=q.get("date_from"),
            date_to=_day_end(q.get("date_to")),
            min_duration_ms=round(minimum * 1000) if minimum is not None else None,
            has_console_errors=True if q.get("errors") == "1" else None,
            limit=50,
            cursor=request.query_params.get("cursor") or None,
        )
        page = await service.list_replays(ctx, project_id, query)
        rows, next_cursor = page.results, page.next
    except (InvalidQuery, ValueError, OverflowError) as exc:
        error = exc.detail if isinstance(exc, InvalidQuery) else "The minimum duration is a number."
        rows, next_cursor = [], None
    next_url = f"/replays?{urlencode({**q, 'cursor': next_cursor})}" if next_cursor else None
    return _page(
        "list.html",
        project_id=project_id,
        rows=rows,
        filters=q,
        error=error,
        next_url=next_url,
        filtered=bool(q),
    )


def _day_end(value: str | None) -> str | None:
    """A date picked in the form is a whole day: "to 2026-05-04" includes that day."""
    if value is None or len(value) != 10:
        return value
    try:
        return (date.fromisoformat(value) + timedelta(days=1)).isoformat()
    except ValueError:
        return value


@get("/{session_id:str}")
async def player(request: Req, session_id: str) -> Response[Any]:
    """One recording in rrweb-player beside its events timeline.

    Session cookie, else 303 to the sign-in form; the not-found page (404) for an unknown or
    invalid session id.
    """
    ctx = ctx_of(request)
    project_id = await SESSION.project(request, ctx)
    if project_id is None:
        return SESSION.to_login(request)
    try:
        meta: ReplayOut = await service.get_replay(ctx, project_id, session_id)
    except (ReplayNotFound, InvalidQuery):
        return _page("not_found.html", 404, project_id=project_id, session_id=session_id)
    return _page("player.html", csp=_PLAYER, project_id=project_id, r=meta)


# -- the page's data (session cookie) ------------------------------------------------------------


async def _signed_in(request: Req) -> int:
    project_id = await SESSION.project(request, ctx_of(request))
    if project_id is None:
        raise Unauthorized("sign in at /replays/login", [])
    return project_id


@get("/data/{session_id:str}/snapshots")
async def page_snapshots(request: Req, session_id: str) -> Stream:
    """The player's recording, every window, streamed as the API's ``…/snapshots`` is.

    Session cookie (401); 400 invalid session id, 404 unknown.
    """
    project_id = await _signed_in(request)
    body = await playback.stream(ctx_of(request), project_id, session_id, None)
    return Stream(body, media_type="application/json", headers={"Cache-Control": "no-store"})


@get("/data/{session_id:str}/events")
async def page_events(
    request: Req, session_id: str, limit: int = Parameter(default=1000)
) -> SessionEvents:
    """The player's events timeline, as the API's ``…/events``.

    Session cookie (401); 400 limit outside 1 to 5000 or invalid session id, 404 unknown.
    """
    project_id = await _signed_in(request)
    return await service.session_events(ctx_of(request), project_id, session_id, limit)


router = Router(
    path="/replays",
    route_handlers=[
        static_file,
        *pages.sign_in_routes(SESSION, _page),
        replay_list,
        player,
        page_snapshots,
        page_events,
    ],
)
"""The pages' routes, mounted by the replay service's router."""
