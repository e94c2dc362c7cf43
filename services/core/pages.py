"""What every area of server-rendered pages shares: the page shell and the sign-in pages.

An area (the experiments dashboard, the replay player) has its own templates package, whose
``base.html`` extends the kernel's ``shell.html`` (header, session badge, footer) and fills in
its logo and footer; the kernel's ``login.html`` is the sign-in page of every area, and its
``static/tokens.css`` (the colours and sizes) is served in front of every area's stylesheet.
Routes for signing in and out come from :func:`sign_in_routes`, around the area's
:class:`WebSession`.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from typing import TYPE_CHECKING, Any

import jinja2
from litestar import HttpMethod, Request, Response, get, post, route
from litestar.response import Redirect

from services.core.http import ctx_of

if TYPE_CHECKING:
    from litestar.handlers import HTTPRouteHandler

    from services.core.websession import WebSession

Render = Callable[..., Response[str]]
_TOKENS = (resources.files("services.core") / "static" / "tokens.css").read_bytes()


def stylesheet(own: bytes) -> bytes:
    """An area's stylesheet as served: the shared design tokens, then its own rules."""
    return _TOKENS + own


def environment(package: str, *, area_name: str, area_path: str) -> jinja2.Environment:
    """A Jinja environment for an area: its own templates first, then the kernel's."""
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [
                jinja2.PackageLoader(package, "templates"),
                jinja2.PackageLoader("services.core", "templates"),
            ]
        ),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(area_name=area_name, area_path=area_path)
    return env


def sign_in_routes(session: WebSession, render: Render) -> list[HTTPRouteHandler]:
    """``GET``/``POST /login`` and ``/logout`` for an area; ``render(template, status, **ctx)``
    draws its pages."""

    @get("/login")
    async def login_form(request: Request[Any, Any, Any]) -> Response[Any]:
        """The sign-in form; a signed-in browser goes straight to ``next``."""
        target = session.safe_next(request.query_params.get("next"))
        if await session.project(request, ctx_of(request)) is not None:
            return Redirect(target, status_code=303)
        signed_out = request.query_params.get("signed_out") == "1"
        return render("login.html", 200, next=target, error=None, signed_out=signed_out)

    @post("/login", status_code=303)
    async def login(request: Request[Any, Any, Any]) -> Response[Any]:
        """Check the secret key; on success set the cookie and go where the user was going."""
        outcome = await session.sign_in(request, ctx_of(request))
        if outcome.response is None:
            return render(
                "login.html", 401, next=outcome.target, error=outcome.error, signed_out=False
            )
        return outcome.response

    @route("/logout", http_method=[HttpMethod.GET, HttpMethod.POST], status_code=303)
    async def logout() -> Response[Any]:
        """Drop the session cookie and go back to the sign-in form."""
        return session.sign_out()

    return [login_form, login, logout]
