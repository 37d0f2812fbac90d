"""The GX file context kept in the lake (lake/gx): suites, validation results, Data Docs."""
from __future__ import annotations

import os
from pathlib import Path

from common.settings import Paths

DATASOURCE = "kcdata_raw"


def get_context(paths: Paths):
    """A file-backed GX context; analytics off, because this machine has no internet."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    import expectations.custom  # noqa: F401  (registers the custom expectations)

    paths.gx_root.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="file", project_root_dir=str(paths.gx_root))
    bars = context.variables.progress_bars
    globally = bars.get("globally") if isinstance(bars, dict) else getattr(bars, "globally", None)
    if globally is not False:
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        context.variables.save()
    return context


def validation_definition(context, resource, suite):
    """Add or refresh the suite, the dataframe asset and the validation definition for `resource`."""
    import great_expectations as gx

    source = context.data_sources.add_or_update_pandas(DATASOURCE)
    try:
        asset = source.get_asset(resource.table)
    except LookupError:
        asset = source.add_dataframe_asset(name=resource.table)
    try:
        batch = asset.get_batch_definition("whole_batch")
    except (KeyError, LookupError, ValueError):
        batch = asset.add_batch_definition_whole_dataframe("whole_batch")
    suite = context.suites.add_or_update(suite)
    return context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=resource.code, data=batch, suite=suite)
    )


def data_docs_index(paths: Paths) -> Path:
    return paths.data_docs_index
