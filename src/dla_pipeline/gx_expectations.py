"""The gate's own GX expectation types (imported with GX, only by ``quality``).

``unexpected_rows_expectation`` in ``expectations/checks.yml`` is built as
``UnexpectedRowsCounted``. GX's ``UnexpectedRowsExpectation`` always computes two metrics,
the unexpected rows themselves (the whole query, fetched) and their count (the query
again, wrapped in a count), and then shows the rows only with ``result_format: COMPLETE``.
Here the query runs once, for its count, when the gate only counts (its first pass, every
night); the rows are fetched only when the gate describes a blocking failure (it runs the
failing suite again, night by night, asking for samples): then the first of them are in
the result's ``details.unexpected_rows``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from great_expectations.expectations import UnexpectedRowsExpectation
from great_expectations.expectations.registry import get_metric_kwargs
from great_expectations.validator.metric_configuration import MetricConfiguration

ROWS = "unexpected_rows_query.table"
COUNT = "unexpected_rows_query.row_count"


def _format_name(result_format: Any) -> str:
    name = result_format.get("result_format") if isinstance(result_format, dict) else result_format
    return str(getattr(name, "value", name) or "SUMMARY").upper()


def _samples(result_format: Any) -> int | None:
    """How many unexpected rows a result format asks to see: 0 counts only (BOOLEAN_ONLY,
    BASIC, SUMMARY with ``partial_unexpected_count: 0``), None every row GX fetches
    (COMPLETE, as GX's own class), else SUMMARY's ``partial_unexpected_count``."""
    name = _format_name(result_format)
    if name == "COMPLETE":
        return None
    if name == "SUMMARY" and isinstance(result_format, dict):
        return int(result_format.get("partial_unexpected_count") or 0)
    return 0


class UnexpectedRowsCounted(UnexpectedRowsExpectation):
    """``UnexpectedRowsExpectation`` whose query runs once when only its count is wanted.
    With samples asked for (SUMMARY with ``partial_unexpected_count`` above 0, the gate's
    drill-down; or COMPLETE) the first unexpected rows are in ``details.unexpected_rows``;
    GX's own class shows them only with COMPLETE."""

    # the name checks.yml and the gate's reports use for it
    configured_as: ClassVar[str] = "unexpected_rows_expectation"
    metric_dependencies: ClassVar[tuple[str, ...]] = (COUNT,)

    def get_validation_dependencies(self, execution_engine=None, runtime_configuration=None):
        deps = super().get_validation_dependencies(execution_engine, runtime_configuration)
        if _samples(deps.result_format) != 0:
            kwargs = get_metric_kwargs(
                metric_name=ROWS,
                configuration=self.configuration,
                runtime_configuration=runtime_configuration,
            )
            deps.set_metric_configuration(
                metric_name=ROWS,
                metric_configuration=MetricConfiguration(
                    metric_name=ROWS,
                    metric_domain_kwargs=kwargs["metric_domain_kwargs"],
                    metric_value_kwargs=kwargs["metric_value_kwargs"],
                ),
            )
        return deps

    def _validate(
        self,
        metrics: dict,
        runtime_configuration: dict | None = None,
        execution_engine: Any = None,
    ) -> dict:
        count = metrics[COUNT]
        result_format = self._get_result_format(runtime_configuration=runtime_configuration)
        if _format_name(result_format) == "BOOLEAN_ONLY":
            return {"success": count == 0}
        result: dict = {"observed_value": count}
        wanted = _samples(result_format)
        if wanted != 0 and count and metrics.get(ROWS):
            result["details"] = {"unexpected_rows": list(metrics[ROWS])[:wanted]}
        return {"success": count == 0, "result": result}


# checks.yml name -> the class the gate builds for it, where it is not GX's own
BY_CONFIGURED_NAME = {UnexpectedRowsCounted.configured_as: UnexpectedRowsCounted}
# an expectation type as the reports name it (checks.yml's name)
REPORTED_NAME = {
    UnexpectedRowsCounted.expectation_type: UnexpectedRowsCounted.configured_as,
}
