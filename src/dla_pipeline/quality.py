"""The quality gate: Great Expectations 1.x suites run against the night's data.

The GX project is the file context in ``expectations/gx``. Suites live there as
JSON (``expectations/gx/expectations/*.json``), one per checked table; each
expectation's ``meta.severity`` is ``blocking`` (default) or ``warning``.
``CHECKS`` says which suite validates which batch. The context (and its Postgres
datasource, which connects eagerly) is only ever built inside a task.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from datetime import date

from .config import Settings, get_settings
from .db import connect

log = logging.getLogger(__name__)

DATASOURCE = "warehouse"


@dataclass(frozen=True)
class Check:
    suite: str
    schema: str
    table: str
    per_night: bool  # batch = rows of the night (extract_date) or the whole table


CHECKS: tuple[Check, ...] = (
    Check("raw_allowance_night", "raw", "allowance_payments", per_night=True),
    Check(
        "mart_allowance_by_lao_period", "marts_build", "allowance_by_lao_period", per_night=False
    ),
    Check("mart_dim_lao", "marts_build", "dim_lao", per_night=False),
)


@dataclass
class Outcome:
    suite: str
    expectation: str
    column: str | None
    severity: str
    success: bool
    observed: str


@dataclass
class GateResult:
    night: date
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def blocking_failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.success and o.severity == "blocking"]

    @property
    def warnings(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.success and o.severity != "blocking"]

    @property
    def passed(self) -> bool:
        return not self.blocking_failures

    def summary(self) -> dict:
        return {
            "passed": self.passed,
            "expectations": len(self.outcomes),
            "failed_blocking": [
                f"{o.suite}: {o.expectation}({o.column or ''})" for o in self.blocking_failures
            ],
            "warnings": [f"{o.suite}: {o.expectation}({o.column or ''})" for o in self.warnings],
        }


class QualityGateFailed(RuntimeError):
    def __init__(self, result: GateResult):
        self.result = result
        lines = [
            f"{o.suite}: {o.expectation} on {o.column or 'table'} failed (observed {o.observed})"
            for o in result.blocking_failures
        ]
        super().__init__("quality gate failed, nothing published:\n  " + "\n  ".join(lines))


def context(settings: Settings | None = None):
    import great_expectations as gx

    settings = settings or get_settings()
    # great_expectations.yml refers to ${WAREHOUSE_URL}; GX substitutes it from the environment
    os.environ["WAREHOUSE_URL"] = settings.warehouse_url
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    ctx = gx.get_context(mode="file", project_root_dir=str(settings.expectations_dir))
    try:
        ds = ctx.data_sources.get(DATASOURCE)
    except (KeyError, ValueError):
        ds = ctx.data_sources.add_postgres(DATASOURCE, connection_string="${WAREHOUSE_URL}")
    for check in CHECKS:
        asset_name = f"{check.schema}.{check.table}"
        try:
            asset = ds.get_asset(asset_name)
        except LookupError:
            asset = ds.add_table_asset(asset_name, table_name=check.table, schema_name=check.schema)
        bd_name = "night" if check.per_night else "whole_table"
        try:
            asset.get_batch_definition(bd_name)
        except KeyError:
            if check.per_night:
                asset.add_batch_definition_daily(
                    bd_name, column="extract_date", validate_batchable=False
                )
            else:
                asset.add_batch_definition_whole_table(bd_name)
    return ctx


def run_gate(
    night: date,
    run_id: str = "cli",
    settings: Settings | None = None,
    checks: tuple[Check, ...] = CHECKS,
) -> GateResult:
    """Validate every check; record outcomes in ops.quality_results; never raises on failure."""
    settings = settings or get_settings()
    ctx = context(settings)
    ds = ctx.data_sources.get(DATASOURCE)
    result = GateResult(night)
    for check in checks:
        suite = ctx.suites.get(check.suite)
        asset = ds.get_asset(f"{check.schema}.{check.table}")
        if check.per_night:
            batch = asset.get_batch_definition("night").get_batch(
                batch_parameters={"year": night.year, "month": night.month, "day": night.day}
            )
        else:
            batch = asset.get_batch_definition("whole_table").get_batch()
        validation = batch.validate(suite)
        for r in validation.results:
            cfg = r.expectation_config
            kwargs = cfg.kwargs or {}
            observed = r.result.get("observed_value")
            if observed is None and "unexpected_percent" in r.result:
                observed = (
                    f"{r.result.get('unexpected_count')} unexpected "
                    f"({r.result['unexpected_percent']:.2f}%)"
                )
            result.outcomes.append(
                Outcome(
                    suite=check.suite,
                    expectation=cfg.type,
                    column=kwargs.get("column"),
                    severity=(cfg.meta or {}).get("severity", "blocking"),
                    success=bool(r.success),
                    observed=json.dumps(observed, default=str, ensure_ascii=False)[:500],
                )
            )
    with connect(settings) as conn, conn.transaction():
        conn.execute(
            "delete from ops.quality_results where run_id=%s and extract_date=%s", (run_id, night)
        )
        with conn.cursor().copy(
            "copy ops.quality_results (run_id, extract_date, suite,"
            " expectation, column_name, success, observed) from stdin"
        ) as cp:
            for o in result.outcomes:
                cp.write_row(
                    (
                        run_id,
                        night,
                        o.suite,
                        f"{o.expectation}[{o.severity}]",
                        o.column,
                        o.success,
                        o.observed,
                    )
                )
    for o in result.warnings:
        log.warning(
            "quality warning: %s %s(%s) observed %s", o.suite, o.expectation, o.column, o.observed
        )
    for o in result.blocking_failures:
        log.error(
            "quality FAILED (blocking): %s %s(%s) observed %s",
            o.suite,
            o.expectation,
            o.column,
            o.observed,
        )
    log.info("quality gate %s: %s", night, result.summary())
    return result
