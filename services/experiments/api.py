"""HTTP API of the experiments service (secret key)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Router, get, patch, post

from schemas.experiments import (
    ExperimentIn,
    ExperimentList,
    ExperimentOut,
    ExperimentPatch,
    ResultsOut,
)
from services.core.auth import require_secret_key
from services.core.bodies import read_json
from services.core.http import ctx_of
from services.experiments import pages, results, service
from services.experiments.errors import InvalidExperiment

MAX_BODY = 256 * 1024
Req = Request[Any, Any, Any]


@get("/api/experiments")
async def list_experiments(request: Req) -> ExperimentList:
    """The project's experiments, newest first. Secret key (401)."""
    ctx = ctx_of(request)
    return await service.list_all(ctx, await require_secret_key(request, ctx))


@post("/api/experiments", status_code=201)
async def create_experiment(request: Req) -> ExperimentOut:
    """Create a draft experiment on an existing feature flag.

    Secret key (401); 400 invalid experiment or unknown flag key, 413 over 256 KiB.
    """
    ctx = ctx_of(request)
    project_id = await require_secret_key(request, ctx)
    body = await read_json(request, ExperimentIn, limit=MAX_BODY, error=InvalidExperiment)
    return await service.create(ctx, project_id, body)


@get("/api/experiments/{experiment_id:int}")
async def get_experiment(request: Req, experiment_id: int) -> ExperimentOut:
    """One experiment by id. Secret key (401); 404 unknown id."""
    ctx = ctx_of(request)
    project_id = await require_secret_key(request, ctx)
    return service.out(await service.get(ctx, project_id, experiment_id))


@patch("/api/experiments/{experiment_id:int}")
async def update_experiment(request: Req, experiment_id: int) -> ExperimentOut:
    """Change part of an experiment; drops its stored results.

    Secret key (401); 400 invalid patch or result, 404 unknown id, 409 flag or start changed after
    launch, 413 over 256 KiB.
    """
    ctx = ctx_of(request)
    project_id = await require_secret_key(request, ctx)
    body = await read_json(request, ExperimentPatch, limit=MAX_BODY, error=InvalidExperiment)
    return await service.update(ctx, project_id, experiment_id, body)


@post("/api/experiments/{experiment_id:int}/launch", status_code=200)
async def launch_experiment(request: Req, experiment_id: int) -> ExperimentOut:
    """Start a draft experiment (start time now unless set).

    Secret key (401); 400 flag archived, gone or not multivariate with two or more variants,
    404 unknown id, 409 not a draft.
    """
    ctx = ctx_of(request)
    return await service.launch(ctx, await require_secret_key(request, ctx), experiment_id)


@post("/api/experiments/{experiment_id:int}/stop", status_code=200)
async def stop_experiment(request: Req, experiment_id: int) -> ExperimentOut:
    """Stop a running experiment (end time now at the latest); drops its stored results.

    Secret key (401); 404 unknown id, 409 not running.
    """
    ctx = ctx_of(request)
    return await service.stop(ctx, await require_secret_key(request, ctx), experiment_id)


@get("/api/experiments/{experiment_id:int}/results")
async def experiment_results(request: Req, experiment_id: int, refresh: bool = False) -> ResultsOut:
    """Per-metric results, stored for a while; ``refresh`` recomputes them now.

    Secret key (401); 404 unknown id, 409 not launched yet.
    """
    ctx = ctx_of(request)
    project_id = await require_secret_key(request, ctx)
    row = await service.get(ctx, project_id, experiment_id)
    return await results.results(ctx, row, refresh=refresh)


router = Router(
    path="/",
    route_handlers=[
        list_experiments,
        create_experiment,
        get_experiment,
        update_experiment,
        launch_experiment,
        stop_experiment,
        experiment_results,
        pages.router,
    ],
)
