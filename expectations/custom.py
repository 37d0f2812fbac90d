"""Custom GX expectations for national identifier codes (check characters, not just shape).

A regex can say a USCC has 18 characters; only the GB 32100 checksum says it is real.
Registered with GX on import, for both engines validation can run on: pandas (a Python check per
value) and DuckDB SQL (the macros of expectations/gx_duckdb.py, built from the same constants).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from great_expectations.execution_engine import PandasExecutionEngine, SqlAlchemyExecutionEngine
from great_expectations.expectations.expectation import ColumnMapExpectation
from great_expectations.expectations.metrics.map_metric_provider import (
    ColumnMapMetricProvider,
    column_condition_partial,
)

from common.codes import is_valid_id_card, is_valid_uscc

if TYPE_CHECKING:
    import pandas as pd
    import sqlalchemy as sa


class ColumnValuesValidUscc(ColumnMapMetricProvider):
    condition_metric_name = "column_values.valid_uscc"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs: Any) -> pd.Series:
        return column.map(is_valid_uscc)

    @column_condition_partial(engine=SqlAlchemyExecutionEngine)
    def _sqlalchemy(cls, column: sa.ColumnElement[Any], **kwargs: Any) -> sa.ColumnElement[bool]:
        import sqlalchemy as sa

        return sa.func.kcdata_valid_uscc(column)


class ColumnValuesValidIdCard(ColumnMapMetricProvider):
    condition_metric_name = "column_values.valid_id_card"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs: Any) -> pd.Series:
        return column.map(is_valid_id_card)

    @column_condition_partial(engine=SqlAlchemyExecutionEngine)
    def _sqlalchemy(cls, column: sa.ColumnElement[Any], **kwargs: Any) -> sa.ColumnElement[bool]:
        import sqlalchemy as sa

        return sa.func.kcdata_valid_id_card(column)


class ExpectColumnValuesToBeValidUscc(ColumnMapExpectation):
    """Expect values to be unified social credit codes with a correct check character."""

    map_metric = "column_values.valid_uscc"
    success_keys = ("mostly",)
    library_metadata: ClassVar[dict] = {"tags": ["kcdata", "china"], "contributors": ["kcdata"]}


class ExpectColumnValuesToBeValidIdCard(ColumnMapExpectation):
    """Expect values to be citizen identity numbers with a correct check character."""

    map_metric = "column_values.valid_id_card"
    success_keys = ("mostly",)
    library_metadata: ClassVar[dict] = {"tags": ["kcdata", "china"], "contributors": ["kcdata"]}
