"""The settings, from the typed settings model (common.settings.KcdataSettings)."""
from __future__ import annotations

from reference_pages.markdown import GENERATED, table, type_name, value

PREFIX = "KCDATA_"


def page() -> str:
    from common import settings

    model = getattr(settings, "KcdataSettings", None)
    if model is None:
        return f"# Settings\n\n{GENERATED}\n\nThe typed settings model `common.settings.KcdataSettings` is not there yet.\n"
    prefix = model.model_config.get("env_prefix") or PREFIX
    rows = [
        [f"`{prefix}{name.upper()}`", f"`{type_name(field.annotation)}`",
         "required" if field.is_required() else value(field.get_default(call_default_factory=True)), field.description or ""]
        for name, field in model.model_fields.items()
    ]
    return f"""# Settings

{GENERATED} Source: `common.settings.KcdataSettings`.

kcdata reads its settings from environment variables named `{prefix}` + the setting's name. A wrong
value, or a `{prefix}` name that is not below, is refused at start with the variable named.
Airflow's (`AIRFLOW__*`), CKAN's and the S3 client's (`AWS_*`) settings stay theirs.

{table(["variable", "type", "default", "what it does"], rows)}
"""
