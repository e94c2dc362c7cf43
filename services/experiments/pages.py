"""The results dashboard: server-rendered pages under ``/experiments``.

The pages show what ``GET /api/experiments/{id}/results`` returns (they call the same
``results.results``), plus one read of exposures and of the primary metric per day for the
line charts. Templates are in ``templates/``, the stylesheet in ``static/``, charts are drawn by
``charts``.

A browser signs in once with the project's secret key at ``/experiments/login``; the session
cookie is ``services.core.websession``'s, checked on every request. The JSON API keeps
``Authorization: Bearer``.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from importlib import resources
from typing import TYPE_CHECKING, Any

from litestar import MediaType, Request, Response, Router, get

from services.core import pages
from services.core.http import ctx_of
from services.core.websession import WebSession
from services.experiments import calculator, dashboard, figures, results, series, service
from services.experiments.errors import ExperimentNotFound

if TYPE_CHECKING:
    from schemas.experiments import ExperimentOut, ResultsOut
    from services.core.service import Context

Req = Request[Any, Any, Any]

SESSION = WebSession(
    cookie="devflow_experiments_session",
    path="/experiments",
    context=b"devflow/experiments-dashboard/session",
)

_STATIC = resources.files("services.experiments") / "static"
_CSS = pages.stylesheet((_STATIC / "dashboard.css").read_bytes())
CSS_URL = f"/experiments/static/dashboard.css?v={hashlib.sha256(_CSS).hexdigest()[:12]}"
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
_env = pages.environment("services.experiments", area_name="Experiments", area_path="/experiments")
_env.globals["css_url"] = CSS_URL


def _page(template: str, status: int = 200, **context: Any) -> Response[str]:
    html = _env.get_template(template).render(**context)
    return Response(html, status_code=status, media_type=MediaType.HTML, headers=_HEADERS)


# -- handlers ------------------------------------------------------------------------------------


@get("/static/dashboard.css", sync_to_thread=False)
def stylesheet() -> Response[bytes]:
    """The dashboard's stylesheet (shared tokens, then its own rules); public, cached a day."""
    return Response(
        _CSS,
        media_type="text/css",
        headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )


@get("/")
async def experiment_list(request: Req) -> Response[Any]:
    """The project's experiments, each with its headline, exposures and health.

    Session cookie; without a valid one, 303 to the sign-in form.
    """
    ctx = ctx_of(request)
    project_id = await SESSION.project(request, ctx)
    if project_id is None:
        return SESSION.to_login(request)
    items = []
    for exp in (await service.list_all(ctx, project_id)).results:
        body = await _results(ctx, project_id, exp)
        items.append(
            {
                "exp": exp,
                "headline": dashboard.headline(exp, body) if body else None,
                "exposures": dashboard.total_exposures(body),
                "health": dashboard.health(body) if body else None,
            }
        )
    return _page("list.html", project_id=project_id, items=items, when=figures.when)


@get("/{experiment_id:int}")
async def experiment_page(request: Req, experiment_id: int) -> Response[Any]:
    """One experiment: health, summary, charts over time, a table and interval plot per metric,
    the calculator (its GET form comes back here)."""
    ctx = ctx_of(request)
    project_id = await SESSION.project(request, ctx)
    if project_id is None:
        return SESSION.to_login(request)
    try:
        row = await service.get(ctx, project_id, experiment_id)
    except ExperimentNotFound:
        return _page("not_found.html", status=404, project_id=project_id, id=experiment_id)
    exp = service.out(row)
    body = None if exp.status == "draft" else await results.results(ctx, row)
    end = body.data_until if body else (exp.end_at or datetime.now(UTC))
    elapsed = (end - exp.start_at).total_seconds() / 86400 if exp.start_at else 0.0
    exposures_chart = primary_chart = None
    scope = series.scope_of(project_id, exp, body) if body else None
    spec = dashboard.primary(exp)
    if scope is not None and spec is not None:
        daily = await series.daily(ctx, exp, scope, spec)
        exposures_chart, primary_chart = series.over_time(exp, daily)
    query = {k: v for k, v in request.query_params.items() if isinstance(v, str)}
    calc = calculator.calculator(query, calculator.calculator_defaults(exp, body, elapsed))
    return _page(
        "detail.html",
        project_id=project_id,
        exp=exp,
        body=body,
        duration=figures.duration(elapsed),
        settings=figures.settings_text(exp),
        describe=dashboard.describe,
        primary=dashboard.primary(exp),
        headline=dashboard.headline(exp, body) if body else None,
        health=dashboard.health(body) if body else None,
        metrics=dashboard.metric_views(exp, body) if body else [],
        chance_chart=dashboard.chance_chart(exp, body) if body else None,
        exposures_chart=exposures_chart,
        primary_chart=primary_chart,
        exposures=dashboard.total_exposures(body),
        calc=calc,
        when=figures.when,
    )


async def _results(ctx: Context, project_id: int, exp: ExperimentOut) -> ResultsOut | None:
    """The API's results for a launched experiment (cached as the API caches them)."""
    if exp.status == "draft":
        return None
    return await results.results(ctx, await service.get(ctx, project_id, exp.id))


router = Router(
    path="/experiments",
    route_handlers=[
        stylesheet,
        *pages.sign_in_routes(SESSION, _page),
        experiment_list,
        experiment_page,
    ],
)
"""The dashboard's routes, mounted by the experiments service's router."""
