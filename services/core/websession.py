"""Browser sessions for the server-rendered pages, signed with the project's secret key.

A browser signs in once with a secret key. The cookie holds the project id, an expiry and an
HMAC-SHA256 of both keyed by that project's secret key: any process can check it without a
server-wide secret, nobody can forge it without the key, and changing the key ends every session.
Each page area (experiments, replays) has its own cookie name, path and MAC context, so a cookie
issued for one area is never valid in another.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode

from litestar.response import Redirect

if TYPE_CHECKING:
    from litestar import Request

    from services.core.service import Context

    Req = Request[Any, Any, Any]

MAX_FORM = 4096


@dataclass(frozen=True)
class SignIn:
    """The outcome of a login form: ``response`` sets the cookie, or ``error`` says why not."""

    target: str
    response: Redirect | None = None
    error: str | None = None


@dataclass(frozen=True)
class WebSession:
    """The signed session cookie of one page area (its name, path and MAC context)."""

    cookie: str
    path: str
    context: bytes
    ttl_s: int = 12 * 3600

    def _mac(self, secret_key: str, project_id: int, expires: int) -> str:
        message = b"%s|%d|%d" % (self.context, project_id, expires)
        return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()

    def value(self, project_id: int, secret_key: str, now: float) -> str:
        """The cookie for a session of ``project_id`` starting at ``now``."""
        expires = int(now) + self.ttl_s
        return f"{project_id}.{expires}.{self._mac(secret_key, project_id, expires)}"

    async def project(self, request: Req, ctx: Context) -> int | None:
        """The project of a valid, unexpired session cookie; None for anything else."""
        parts = request.cookies.get(self.cookie, "").split(".")
        if len(parts) != 3 or not all(p.isdigit() and len(p) <= 18 for p in parts[:2]):
            return None
        project_id, expires = int(parts[0]), int(parts[1])
        if expires <= time.time():
            return None
        secret_key = await ctx.projects.secret_key_of(project_id)
        if secret_key is None or not hmac.compare_digest(
            parts[2].encode(), self._mac(secret_key, project_id, expires).encode()
        ):
            return None
        return project_id

    def safe_next(self, target: str | None) -> str:
        """Where to go after signing in: a path of this area, never another site."""
        if target and target.startswith(self.path) and "//" not in target and "\\" not in target:
            return target
        return self.path

    def to_login(self, request: Req) -> Redirect:
        """Redirect to this area's sign-in form, coming back here after; drops a bad cookie."""
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        response = Redirect(f"{self.path}/login?{urlencode({'next': target})}", status_code=303)
        if self.cookie in request.cookies:  # expired or tampered with: drop it
            response.delete_cookie(self.cookie, path=self.path)
        return response

    async def sign_in(self, request: Req, ctx: Context) -> SignIn:
        """Check the posted ``secret_key``; on success the response sets the cookie."""
        form = parse_qs((await request.body())[:MAX_FORM].decode("utf-8", "replace"))
        key = (form.get("secret_key") or [""])[0].strip()
        target = self.safe_next((form.get("next") or [""])[0])
        project_id = await ctx.projects.by_secret_key(key) if key else None
        if project_id is None:
            if not key:
                error = "Enter the project's secret key."
            elif key.startswith("phc_"):
                error = "That is the project's public token. Sign in with a secret key (phs_…)."
            else:
                error = "That secret key is not valid."
            return SignIn(target=target, error=error)
        response = Redirect(target, status_code=303)
        response.set_cookie(
            self.cookie,
            self.value(project_id, key, time.time()),
            max_age=self.ttl_s,
            path=self.path,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
        return SignIn(target=target, response=response)

    def sign_out(self) -> Redirect:
        """Redirect to the sign-in form with the session cookie deleted."""
        response = Redirect(f"{self.path}/login?signed_out=1", status_code=303)
        response.delete_cookie(self.cookie, path=self.path)
        return response
