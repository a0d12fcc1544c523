"""The quality gate: Great Expectations 1.x, configured in ``expectations/checks.yml``.

Each entry of checks.yml names a table, its batch (the night's rows, or the whole
table) and its expectations, each ``blocking`` (default) or ``warning``. At run time
the entries become GX suites and validation definitions in the file context
``expectations/gx`` (only ever built inside a task: the Postgres datasource connects
eagerly; GX works on a copy, see quality_docs), results are stored and rendered as GX
data docs (self-contained, offline), recorded in ``ops.quality_results``, and written
as a readable report beside the night's summary.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import yaml
from psycopg import sql

from . import ledger, preload, quality_docs
from .config import ConfigError, Settings, get_settings
from .db import connect, forked_pool

log = logging.getLogger(__name__)
GX_MODULE = "great_expectations"  # imported ahead by the direct runner (preload)
# GX logs hundreds of INFO lines about its own registries (on import and for each
# expectation) into a night's log; the gate logs what it found itself
logging.getLogger(GX_MODULE).setLevel(logging.WARNING)

DATASOURCE = "warehouse"
SEVERITIES = {"blocking": "critical", "warning": "warning"}


@dataclass(frozen=True)
class Check:
    suite: str
    schema: str
    table: str
    per_night: bool  # batch = rows of the night (extract_date) or the whole table
    expectations: tuple = ()


def load_checks(settings: Settings | None = None) -> list[Check]:
    settings = settings or get_settings()
    path = settings.expectations_dir / "checks.yml"
    config = yaml.safe_load(path.read_text())
    checks = []
    for suite, spec in config.items():
        schema, _, table = spec["table"].partition(".")
        if spec.get("batch", "whole_table") not in ("night", "whole_table"):
            raise ConfigError(f"{path}: {suite}: batch must be 'night' or 'whole_table'")
        for item in spec["expectations"]:
            if item.get("severity", "blocking") not in SEVERITIES:
                raise ConfigError(f"{path}: {suite}: severity must be blocking or warning: {item}")
            if spec.get("batch") == "night" and any(
                "mostly" in (kwargs or {}) for kwargs in item.values() if isinstance(kwargs, dict)
            ):
                raise ConfigError(
                    f"{path}: {suite}: a night check cannot use `mostly` (the batch holds every"
                    f" pending night): write it as a query grouped by extract_date: {item}"
                )
        checks.append(
            Check(suite, schema, table, spec.get("batch") == "night", tuple(spec["expectations"]))
        )
    return checks


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _placeholders(nights: list[date], night: date, params: dict) -> dict[str, str]:
    """What an SQL check's placeholders stand for (see checks.yml)."""
    literal = [f"date '{n.isoformat()}'" for n in sorted(nights)]
    return {
        "{nights}": ", ".join(literal),
        "{first_night}": literal[0],
        "{last_night}": literal[-1],
        "{night}": night.isoformat(),
        **{f"{{{k}}}": str(v) for k, v in params.items()},
    }


def build_expectation(item: dict, nights: list[date], night: date | None = None):
    """One checks.yml item -> a GX expectation with its severity, for a batch of ``nights``
    (``night``: the night being published, default the last of them)."""
    import great_expectations.expectations as gxe

    item = dict(item)
    severity = item.pop("severity", "blocking")
    description = item.pop("description", None)
    if len(item) != 1:
        raise ConfigError(f"checks.yml: one expectation per item, got {sorted(item)}")
    ((name, kwargs),) = item.items()
    kwargs = dict(kwargs or {})
    description = kwargs.pop("description", description)
    params = kwargs.pop("params", None) or {}
    if "unexpected_rows_query" in kwargs:
        query = kwargs["unexpected_rows_query"]
        for key, value in _placeholders(nights, night or max(nights), params).items():
            query = query.replace(key, value)
        kwargs["unexpected_rows_query"] = query
    from .gx_expectations import BY_CONFIGURED_NAME

    cls = BY_CONFIGURED_NAME.get(name) or getattr(gxe, _camel(name), None)
    if cls is None:
        raise ConfigError(f"checks.yml: unknown expectation {name!r}")
    return cls(
        **kwargs,
        severity=SEVERITIES[severity],
        description=description,
        meta={"severity": severity},
    )


@dataclass
class Outcome:
    suite: str
    expectation: str
    column: str | None
    severity: str
    success: bool
    observed: str
    description: str | None = None

    @property
    def blocks(self) -> bool:
        """A failed blocking expectation: it stops the publish."""
        return not self.success and self.severity == "blocking"

    def label(self) -> str:
        what = f"{self.expectation} on {self.column or 'table'}"
        if self.description:
            what = f"{what} ({self.description})"
        return f"{self.suite}: {what}"


@dataclass
class GateResult:
    night: date
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def blocking_failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.blocks]

    @property
    def warnings(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.success and not o.blocks]

    @property
    def passed(self) -> bool:
        return not self.blocking_failures

    def summary(self) -> dict:
        return {
            "passed": self.passed,
            "expectations": len(self.outcomes),
            "failed_blocking": [o.label() for o in self.blocking_failures],
            "warnings": [o.label() for o in self.warnings],
        }


class QualityGateFailed(RuntimeError):
    def __init__(self, result: GateResult):
        self.result = result
        lines = [
            f"{o.suite}: {o.expectation} on {o.column or 'table'} failed"
            f"{' (' + o.description + ')' if o.description else ''}: observed {o.observed}"
            for o in result.blocking_failures
        ]
        super().__init__("quality gate failed, nothing published:\n  " + "\n  ".join(lines))


def _pools_stay_in_their_process() -> None:
    """SQLAlchemy's recipe for pools across ``fork`` (the gate's workers, _run_planned): a
    pooled connection opened in another process is dropped (never used, never closed:
    it is the parent's) and a new one opened instead. Once per process, for every pool."""
    from sqlalchemy import event
    from sqlalchemy.pool import Pool

    if event.contains(Pool, "checkout", _checkout_in_own_process):
        return
    event.listen(Pool, "connect", _note_process)
    event.listen(Pool, "checkout", _checkout_in_own_process)


def _note_process(dbapi_connection, connection_record) -> None:
    connection_record.info["pid"] = os.getpid()


def _checkout_in_own_process(dbapi_connection, connection_record, connection_proxy) -> None:
    from sqlalchemy import exc

    if connection_record.info.get("pid", os.getpid()) != os.getpid():
        connection_record.dbapi_connection = connection_proxy.dbapi_connection = None
        raise exc.DisconnectionError("a pooled connection of the parent process: a new one")


def context(settings: Settings | None = None):
    import great_expectations as gx

    _pools_stay_in_their_process()

    settings = settings or get_settings()
    # great_expectations.yml refers to ${GX_WAREHOUSE_URL}: the gate's own role
    os.environ["GX_WAREHOUSE_URL"] = settings.role_url("gate")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    # a fresh working copy of the committed project (GX rewrites the config it opens),
    # writing to this run folder's own results and site: see quality_docs. Suites and
    # validation definitions are generated from checks.yml on every run, so a renamed
    # check or asset never leaves a stale definition behind
    root = quality_docs.working_project(settings)
    ctx = gx.get_context(mode="file", context_root_dir=str(root))
    try:
        ctx.data_sources.get(DATASOURCE)
    except (KeyError, ValueError):
        ctx.data_sources.add_postgres(DATASOURCE, connection_string="${GX_WAREHOUSE_URL}")
    return ctx


def _gate_view(check: Check) -> tuple[str, str]:
    return "gate", check.table


def point_gate_view(conn, check: Check, nights: list[date]) -> None:
    """``gate.<table>``: the rows of ``nights`` without clear IDs, with literal dates so the
    index is used."""
    from .roles import CLEAR_ID_COLUMNS

    schema, view = _gate_view(check)
    columns = [
        r[0]
        for r in conn.execute(
            "select column_name from information_schema.columns where table_schema = %s"
            " and table_name = %s order by ordinal_position",
            (check.schema, check.table),
        )
        if r[0] not in CLEAR_ID_COLUMNS
    ]
    with conn.transaction():  # drop first: an older view may have other columns
        conn.execute(sql.SQL("drop view if exists {}").format(sql.Identifier(schema, view)))
        conn.execute(
            sql.SQL("create view {} as select {} from {} where extract_date in ({})").format(
                sql.Identifier(schema, view),
                sql.SQL(", ").join(map(sql.Identifier, columns)),
                sql.Identifier(check.schema, check.table),
                sql.SQL(", ").join(map(sql.Literal, sorted(nights))),
            )
        )


def _batch_definition(ds, check: Check):
    schema, table = _gate_view(check) if check.per_night else (check.schema, check.table)
    name = f"{schema}.{table}"
    try:
        asset = ds.get_asset(name)
    except LookupError:
        asset = ds.add_table_asset(name, table_name=table, schema_name=schema)
    try:
        return asset.get_batch_definition("whole_table")
    except KeyError:
        return asset.add_batch_definition_whole_table("whole_table")


def _observed(result: dict) -> str:
    observed = result.get("observed_value")
    if observed is None and "unexpected_count" in result:
        observed = (
            f"{result.get('unexpected_count')} unexpected "
            f"({result.get('unexpected_percent') or 0:.2f}%)"
        )
    if "details" in result and isinstance(result["details"], dict):
        rows = result["details"].get("unexpected_rows")
        if rows:  # a SQL check describing a failure: its first rows, as JSON
            observed = {"unexpected": observed, "e.g.": rows[:3]}
    return json.dumps(observed, default=str, ensure_ascii=False)[:500]


def import_in_background() -> threading.Thread:
    """Import Great Expectations in a thread (~3 s of imports, a third of a national
    night's gate), started while the caller waits on the server: the direct runner starts
    it with the dbt build. The gate's own import then finds it done (or waits for it)."""
    return preload.in_background(GX_MODULE)


def run_gate(night: date, run_id: str = "cli", settings: Settings | None = None) -> GateResult:
    """Validate every check; record outcomes and the report. Never raises on failure."""
    preload.wait(GX_MODULE)
    from great_expectations.core.run_identifier import RunIdentifier

    settings = settings or get_settings()
    ctx = context(settings)
    ds = ctx.data_sources.get(DATASOURCE)
    result = GateResult(night)
    run = RunIdentifier(run_name=f"{night.isoformat()} {run_id}")
    gate_conn = connect(settings, role="gate", autocommit=True)
    try:
        # one gate at a time (the gate views are shared), and no build from the moment it
        # reads the waiting nights until its outcomes are recorded: what it passed is the
        # build in marts_build, and a later build starts after the record (the publish
        # compares the two, publish._gated_build)
        gate_conn.execute("select pg_advisory_lock(%s)", (ledger.GATE_LOCK,))
        gate_conn.execute("select pg_advisory_lock_shared(%s)", (ledger.BUILD_LOCK,))
        # every night loaded since its last publish is re-checked: a blocked night's rows are
        # in the facts, so a later night must not carry them to analysts unchecked
        nights = sorted(set(ledger.pending_nights(gate_conn)) | {night})
        _validate_all(ctx, ds, result, nights, night, run, gate_conn, settings)
        _record(result, run_id, settings)
    finally:
        gate_conn.close()  # its session's advisory locks go with it
    try:
        quality_docs.build(ctx, settings, run=run)
    except Exception as exc:  # docs are a convenience; never fail the gate on them
        log.warning("GX data docs not built: %s", exc)
    write_report(result, run_id, settings)
    for o in result.warnings:
        log.warning("quality warning: %s (observed %s)", o.label(), o.observed)
    for o in result.blocking_failures:
        log.error("quality FAILED (blocking): %s (observed %s)", o.label(), o.observed)
    log.info("quality gate %s: %s", night, result.summary())
    return result


def _validate_all(ctx, ds, result, nights, night, run, gate_conn, settings) -> None:
    """Each check once: a night check over every pending night at once (one query per
    expectation, counts only), the checks side by side on the machine's cores; only when
    a blocking one fails, again with sample values, night by night to name the night.
    Outcomes in the order of checks.yml."""
    entries: list[_Planned | Outcome] = []
    for check in load_checks(settings):
        try:
            if check.per_night:
                point_gate_view(gate_conn, check, nights)
            bd = _batch_definition(ds, check)
        except Exception as exc:  # the table is missing: that alone blocks the publish
            entries.append(
                Outcome(
                    check.suite,
                    "table_exists",
                    None,
                    "blocking",
                    False,
                    str(exc).splitlines()[0][:300],
                )
            )
            continue
        checked = nights if check.per_night else [night]
        label = _night_label(check, checked) if check.per_night else check.suite
        entries.append(
            _Planned(check, bd, checked, label, _definition(ctx, check, bd, checked, night))
        )
    planned = [e for e in entries if isinstance(e, _Planned)]
    ran = dict(zip(map(id, planned), _run_planned(planned, run, ds, settings), strict=True))
    for entry in entries:
        if isinstance(entry, Outcome):
            result.outcomes.append(entry)
        elif not any(o.blocks for o in ran[id(entry)]):
            result.outcomes += ran[id(entry)]
        else:  # a blocking failure: again with sample values, night by night to name it
            result.outcomes += _described(ctx, entry, night, run, gate_conn)


def _described(ctx, plan: _Planned, night: date, run, gate_conn) -> list[Outcome]:
    outcomes = []
    for n in plan.checked:
        label = plan.label
        if plan.check.per_night:
            point_gate_view(gate_conn, plan.check, [n])
            label = _night_label(plan.check, [n])
        vd = _definition(ctx, plan.check, plan.bd, [n], night)
        outcomes += _outcomes(vd, run, label, SAMPLES)
    return outcomes


@dataclass
class _Planned:
    """A check ready to run: its validation definition, over the nights ``checked``."""

    check: Check
    bd: object
    checked: list[date]
    label: str
    vd: object


# the planned checks and the run, for the forked workers of _run_planned (inherited, not
# pickled: GX's objects hold the datasource and its engine)
_FORKED: tuple[list[_Planned], object] | None = None


def _run_planned(planned: list[_Planned], run, ds, settings: Settings) -> list[list[Outcome]]:
    """The checks' outcomes, in order. Each check is a few queries on its own server
    backend, so they run side by side: one forked worker per core (LOAD_WORKERS), the
    costliest first (the night batches and the whole-history reconciliations; national
    night: 9.9 s one after the other). The workers open their own connections: a pooled
    SQLAlchemy connection of the parent is never checked out in a worker
    (``_pools_stay_in_their_process``), and psycopg closes a connection only in the
    process that opened it, so the parent's (the gate lock's) are never used or closed."""
    global _FORKED
    workers = min(len(planned), settings.load_workers or os.cpu_count() or 1)
    if workers <= 1:
        return [_outcomes(p.vd, run, p.label) for p in planned]
    order = sorted(range(len(planned)), key=lambda i: -_weight(planned[i].check))
    ds.get_execution_engine().engine.dispose()  # its idle connections: not left open
    _FORKED = (planned, run)
    try:
        with forked_pool(workers) as pool:
            done = dict(zip(order, pool.map(_run_forked, order), strict=True))
    finally:
        _FORKED = None
    return [done[i] for i in range(len(planned))]


def _run_forked(i: int) -> list[Outcome]:
    planned, run = _FORKED
    try:
        return _outcomes(planned[i].vd, run, planned[i].label)
    except Exception as exc:  # GX's exceptions may not survive pickling: the text does
        import traceback

        raise RuntimeError(
            f"the gate's check {planned[i].check.suite} failed in a worker:\n"
            + "".join(traceback.format_exception(exc))
        ) from None


def _weight(check: Check) -> int:
    """Which checks to start first: the night batches, then those with SQL queries (the
    reconciliations sum whole facts), then the rest, in the order of checks.yml."""
    sql_checks = sum("unexpected_rows_expectation" in item for item in check.expectations)
    return 2 * check.per_night + (sql_checks > 0)


def _night_label(check: Check, nights: list[date]) -> str:
    first, last = min(nights).isoformat(), max(nights).isoformat()
    return f"{check.suite}[{first}]" if first == last else f"{check.suite}[{first}..{last}]"


# GX's result formats: counts and observed values only (one query per expectation; the
# sample of unexpected values costs GX two more), or with the samples, when describing a
# blocking failure (make bench: raw_allowance_night on a national night 12.4 s -> 5.0 s)
COUNTS = {"result_format": "SUMMARY", "partial_unexpected_count": 0}
SAMPLES = {"result_format": "SUMMARY", "partial_unexpected_count": 20}


def _definition(ctx, check: Check, bd, nights, night: date):
    """The check's suite and validation definition over one batch (GX's file stores)."""
    import great_expectations as gx

    suite = gx.ExpectationSuite(name=check.suite, meta={"table": f"{check.schema}.{check.table}"})
    for item in check.expectations:
        suite.add_expectation(build_expectation(item, nights, night))
    suite = ctx.suites.add_or_update(suite)
    return ctx.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=check.suite, data=bd, suite=suite)
    )


def _outcomes(vd, run, label: str, result_format=COUNTS) -> list[Outcome]:
    """A validation definition's results, as outcomes labelled ``label``."""
    from .gx_expectations import REPORTED_NAME

    outcomes = []
    for r in vd.run(run_id=run, result_format=result_format).results:
        cfg = r.expectation_config
        outcomes.append(
            Outcome(
                suite=label,
                expectation=REPORTED_NAME.get(cfg.type, cfg.type),
                column=(cfg.kwargs or {}).get("column"),
                severity=(cfg.meta or {}).get("severity", "blocking"),
                success=bool(r.success),
                observed=_observed(r.result or {}) if not r.success else "",
                description=cfg.description,
            )
        )
    return outcomes


def _record(result: GateResult, run_id: str, settings: Settings) -> None:
    with connect(settings, role="gate") as conn, conn.transaction():
        ledger.record_quality(conn, run_id, result.night, result.outcomes)


def data_docs_dir(settings: Settings | None = None) -> Path:
    return quality_docs.site_dir(settings or get_settings())


def write_report(result: GateResult, run_id: str, settings: Settings) -> Path:
    """``data/runs/<date>.quality.md``: per suite what passed, warned and failed."""
    settings.runs_dir.mkdir(parents=True, exist_ok=True)
    path = settings.runs_dir / f"{result.night.isoformat()}.quality.md"
    status = "PASSED" if result.passed else "FAILED (not published)"
    lines = [
        f"# Quality gate {result.night} — {status}",
        "",
        f"run: `{run_id}`",
        "",
        "| suite | passed | warnings | blocking failures |",
        "|---|---:|---:|---:|",
    ]
    suites = dict.fromkeys(o.suite for o in result.outcomes)
    for s in suites:
        mine = [o for o in result.outcomes if o.suite == s]
        lines.append(
            f"| {s} | {sum(o.success for o in mine)}/{len(mine)} | "
            f"{sum(not o.success and o.severity != 'blocking' for o in mine)} | "
            f"{sum(not o.success and o.severity == 'blocking' for o in mine)} |"
        )
    for title, items in (
        ("Blocking failures", result.blocking_failures),
        ("Warnings", result.warnings),
    ):
        if items:
            lines += ["", f"## {title}", ""]
            lines += [
                f"- **{o.suite}** — {o.description or o.expectation}"
                f" (`{o.expectation}`{', column ' + o.column if o.column else ''}):"
                f" observed {o.observed}"
                for o in items
            ]
    lines += ["", f"GX data docs: `{data_docs_dir(settings)}/index.html` (`make quality-docs`)"]
    path.write_text("\n".join(lines) + "\n")
    return path
