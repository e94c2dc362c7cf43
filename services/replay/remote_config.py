"""The browser SDKs' remote configuration, in posthog-js's shape.

posthog-js asks for its settings at start-up, first as a script (``/array/<token>/config.js``,
which sets ``window._POSTHOG_REMOTE_CONFIG[token]``) and else as JSON (``/array/<token>/config``).
It starts recording only when the answer has a ``sessionRecording`` object naming the endpoint,
so this is what makes posthog-js record to ``/s/``. Events go to ``/i/v0/e/``, which the ingest
service serves; feature flags are then loaded from ``/flags``. An unknown token gets a 404
problem: there is no project to configure.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, get

from schemas.api import FieldError
from services.core.http import ctx_of
from services.replay.errors import ReplayNotFound

Req = Request[Any, Any, Any]
CACHE_CONTROL = "public, max-age=300"
MAX_TOKEN_CHARS = 200


def config_for(token: str) -> dict[str, Any]:
    """posthog-js's remote config for a project token: recordings to ``/s/`` with console logs,
    events to ``/i/v0/e/``, feature flags; no surveys, heatmaps or performance capture."""
    return {
        "token": token,
        "supportedCompression": ["gzip", "gzip-js"],
        "hasFeatureFlags": True,
        "analytics": {"endpoint": "/i/v0/e/"},
        "elementsChainAsString": True,
        "autocapture_opt_out": False,
        "autocaptureExceptions": False,
        "captureDeadClicks": False,
        "capturePerformance": False,
        "heatmaps": False,
        "surveys": False,
        "defaultIdentifiedOnly": False,
        "sessionRecording": {
            "endpoint": "/s/",
            "consoleLogRecordingEnabled": True,
            "recorderVersion": "v2",
            "sampleRate": None,
            "minimumDurationMilliseconds": None,
            "linkedFlag": None,
            "networkPayloadCapture": None,
            "urlTriggers": [],
            "urlBlocklist": [],
            "eventTriggers": [],
            "scriptConfig": None,
        },
    }


async def _known(request: Req, token: str) -> dict[str, Any]:
    if len(token) > MAX_TOKEN_CHARS or await ctx_of(request).projects.by_token(token) is None:
        raise ReplayNotFound("no project has this token", [FieldError("token", "unknown")])
    return config_for(token)


@get("/array/{token:str}/config")
async def config_json(request: Req, token: str) -> Response[bytes]:
    """The remote config as JSON; public (the token names the project), cached 5 minutes;
    404 unknown token."""
    body = msgspec.json.encode(await _known(request, token))
    return Response(body, media_type="application/json", headers={"Cache-Control": CACHE_CONTROL})


@get("/array/{token:str}/config.js")
async def config_script(request: Req, token: str) -> Response[bytes]:
    """The remote config as a script setting ``window._POSTHOG_REMOTE_CONFIG[token]``; public,
    cached 5 minutes; 404 unknown token."""
    config = msgspec.json.encode(await _known(request, token))
    # JSON is a JavaScript expression; "</" can't close a script element from inside it.
    literal = config.replace(b"</", b"<\\/")
    key = msgspec.json.encode(token)
    body = (
        b"(function(){window._POSTHOG_REMOTE_CONFIG=window._POSTHOG_REMOTE_CONFIG||{};"
        b"window._POSTHOG_REMOTE_CONFIG[" + key + b"]={config:" + literal + b",siteApps:[]};})();"
    )
    return Response(
        body, media_type="application/javascript", headers={"Cache-Control": CACHE_CONTROL}
    )
