"""An experiment's results: sufficient statistics from SQL, inference from ``stats``.

Results are stored in ``experiment_results`` and served from there for ``RESULTS_TTL_S``; a
running experiment's results are recomputed after that (``?refresh=true`` forces it), a stopped
experiment's never change. Changing or stopping an experiment drops them.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec

from schemas.api import FieldError
from schemas.experiments import (
    AnalysisIn,
    ExperimentIn,
    MetricIn,
    MetricResult,
    ResultsOut,
    VariantOut,
)
from services.experiments import metrics, people, repo, stats
from services.experiments.errors import StateConflict

if TYPE_CHECKING:
    from services.core.service import Context

RESULTS_TTL_S = 60.0


async def results(ctx: Context, row: repo.ExperimentRow, *, refresh: bool = False) -> ResultsOut:
    """The experiment's results: the stored ones while fresh, else computed now and stored.

    Stored results are fresh for ``RESULTS_TTL_S``, and for good once the experiment is
    stopped; ``refresh`` recomputes anyway. :class:`StateConflict` before launch.
    """
    if row.status == "draft" or row.start_at is None:
        raise StateConflict(
            "the experiment has not been launched", [FieldError("status", row.status)]
        )
    async with ctx.pool.connection() as conn:
        cached = await repo.select_results(conn, row.id)
        now = datetime.now(UTC)
        fresh = cached is not None and (
            row.status == "stopped" or (now - cached[0]).total_seconds() < RESULTS_TTL_S
        )
        if cached is not None and fresh and not refresh:
            return msgspec.convert(cached[1], ResultsOut)
        async with conn.transaction():
            body = await compute(conn, row, now)
            await repo.upsert_results(conn, row.id, body.computed_at, msgspec.to_builtins(body))
    return body


async def compute(conn: repo.Conn, row: repo.ExperimentRow, now: datetime) -> ResultsOut:
    """Compute the results over [start, min(end, now)]: refresh the per-person rows, test the
    exposure split for a sample ratio mismatch, analyse each metric against control."""
    assert row.start_at is not None
    end = min(row.end_at or now, now)
    exp = msgspec.convert(
        {f: getattr(row, f) for f in ExperimentIn.__struct_fields__}, ExperimentIn
    )
    versions = await repo.select_flag_versions(
        conn, row.project_id, row.feature_flag_key, row.start_at, end
    )
    warnings: list[str] = []
    variants, weights = _variants(versions, warnings)
    scope = metrics.Scope(
        project_id=row.project_id,
        flag_key=row.feature_flag_key,
        variants=variants,
        start=row.start_at,
        end=end,
        keep_first=exp.exposure.multiple_variants == "first",
    )
    p = people.plan(exp.metrics, exp.analysis, scope)
    await people.refresh(conn, row.id, p)
    rows = await people.variant_sums(conn, row.id, p)
    exposures = {v: int(r[0]) for v, r in rows.items()}
    counts = [exposures.get(v, 0) for v in variants]
    srm_p = None
    if len(variants) >= 2 and sum(counts) > 0:
        result = stats.srm(counts, weights)
        srm_p = result.p_value
        if result.mismatch:
            warnings.append(
                f"sample ratio mismatch (p = {srm_p:.2g}): exposures {counts} do not match the "
                f"flag's split {[round(w * 100, 1) for w in weights]}%; results are suspect"
            )
    out = []
    for metric in exp.metrics:
        raw = _pick(rows, p, metric.name, variants)
        out.append(_metric(metric, exp.analysis, variants, exposures, raw, warnings))
    return ResultsOut(
        experiment_id=row.id,
        control=variants[0] if variants else "",
        metrics=out,
        srm_p_value=srm_p,
        warnings=warnings,
        computed_at=now,
        data_until=end,
    )


def _variants(
    versions: list[repo.FlagVersion], warnings: list[str]
) -> tuple[list[str], list[float]]:
    """Variant keys in the order of the flag in force at the start (control first), and their
    expected share of exposures; later versions that change the split are reported."""
    if not versions:
        warnings.append("no definition of the flag was in force during the experiment")
        return [], []

    def split(v: repo.FlagVersion) -> list[tuple[str, float]]:
        """The version's variants with their rollout percentages, in flag order."""
        mv = (v.definition.get("filters") or {}).get("multivariate") or {}
        return [
            (str(x.get("key")), float(x.get("rollout_percentage") or 0))
            for x in mv.get("variants") or []
        ]

    first = split(versions[0])
    for later in versions[1:]:
        if split(later) != first:
            warnings.append(
                f"the flag's variants changed during the experiment (version {later.version} at "
                f"{later.changed_at.isoformat()}); exposures follow the split in force at the start"
            )
            break
    keys = [k for k, _ in first]
    total = sum(p for _, p in first) or 1.0
    return keys, [p / total for _, p in first]


def _pick(
    rows: dict[str, list[float]], p: people.Plan, name: str, variants: list[str]
) -> dict[str, list[float]]:
    """Per variant, a metric's figures from the sums row: [n, sum, sum of squares], then for a
    pair (CUPED, ratio) the other column's sum and sum of squares and the cross product."""
    sums = p.layout[name]
    base = 1 + 2 * len(p.columns)
    width = 1 + 2 * len(p.columns) + len(p.products)
    out = {}
    for variant in variants:
        row = rows.get(variant) or [0.0] * width
        picked = [row[0], row[1 + 2 * sums.value], row[2 + 2 * sums.value]]
        if sums.other is not None and sums.product is not None:
            picked += [row[1 + 2 * sums.other], row[2 + 2 * sums.other], row[base + sums.product]]
        out[variant] = picked
    return out


def _metric(
    metric: MetricIn,
    analysis_in: AnalysisIn,
    variants: list[str],
    exposures: dict[str, int],
    raw: dict[str, list[float]],
    warnings: list[str],
) -> MetricResult:
    analysis = _analysis(analysis_in, metric)
    per_variant: dict[str, stats.Stats] = {}
    values: dict[str, float | None] = {}
    for v in variants:
        row = raw[v]
        n = int(row[0])
        if metric.kind == "funnel":
            done = row[1]
            per_variant[v] = stats.SampleStats(n, done, done)
            values[v] = done / n if n else None
        elif metric.kind == "ratio":
            ms, mss, ds, dss, mds = row[1:6]
            per_variant[v] = stats.RatioStats(n, ms, mss, ds, dss, mds)
            values[v] = ms / ds if ds else None
        else:
            s, ss = row[1], row[2]
            extra = (
                {"pre_sum": row[3], "pre_sum_squares": row[4], "sum_product": row[5]}
                if len(row) == 6
                else {}
            )
            per_variant[v] = stats.SampleStats(n, s, ss, **extra)
            values[v] = s / n if n else None
    out = []
    if variants:
        control = variants[0]
        compared = stats.analyze(
            per_variant[control], {v: per_variant[v] for v in variants[1:]}, analysis
        )
        out.append(_variant_out(control, exposures.get(control, 0), values[control], None))
        for result in compared:
            out.append(
                _variant_out(result.key, exposures.get(result.key, 0), values[result.key], result)
            )
            if result.status == "too_little_data":
                warnings.append(f"{metric.name}: {result.key} has too little data for a verdict")
            if metric.role == "guardrail" and result.significant and result.effect is not None:
                worse = result.effect > 0 if metric.inverse else result.effect < 0
                if worse:
                    warnings.append(
                        f"guardrail {metric.name!r} regressed in {result.key} "
                        f"(effect {result.effect:+.3g})"
                    )
    return MetricResult(name=metric.name, kind=metric.kind, role=metric.role, variants=out)


def _analysis(a: AnalysisIn, metric: MetricIn) -> stats.Analysis:
    proportion = metric.kind in ("conversion", "funnel")
    return stats.Analysis(
        engine=a.engine,
        metric="proportion" if proportion else "mean",
        confidence=a.confidence,
        relative=a.relative,
        inverse=metric.inverse,
        sequential=a.sequential,
        sequential_tuning=a.sequential_tuning,
        cuped=a.cuped and metric.kind not in ("ratio", "funnel"),
        prior_mean=a.prior_mean,
        prior_variance=a.prior_variance,
        min_sample=a.min_sample,
        min_conversions=a.min_conversions,
    )


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def _variant_out(
    key: str, exposures: int, value: float | None, r: stats.VariantResult | None
) -> VariantOut:
    if r is None:  # control
        return VariantOut(
            key=key,
            exposures=exposures,
            value=_finite(value),
            effect=None,
            interval=None,
            chance_to_win=None,
            p_value=None,
            risk=None,
            significant=False,
            status="control",
        )
    interval: Any = list(r.interval) if r.interval is not None else None
    return VariantOut(
        key=key,
        exposures=exposures,
        value=_finite(value),
        effect=_finite(r.effect),
        interval=interval,
        chance_to_win=_finite(r.chance_to_win),
        p_value=_finite(r.p_value),
        risk=list(r.risk) if r.risk is not None else None,
        significant=r.significant,
        status=r.status,
    )
