"""The `kcdata` CKAN plugin: the bureau's own home page and the helpers it needs, and the
DataStore load the publisher calls (`kcdata_datastore_load`, see datastore_load.py).

The DCAT profile is registered separately (entry point `ckan.rdf.profiles`, see profile.py).
"""
from __future__ import annotations

import ckan.plugins as p
import ckan.plugins.toolkit as tk
from ckanext.kcdata.datastore_load import datastore_load, datastore_load_auth


def departments(limit: int = 8) -> list[dict]:
    """The organisations (one per department) that publish the most datasets, largest first."""
    orgs = tk.get_action("organization_list")({"ignore_auth": True}, {"all_fields": True, "sort": "package_count"})
    return [o for o in orgs if o.get("package_count")][:limit] or orgs[:limit]


def latest_datasets(limit: int = 6) -> list[dict]:
    """The most recently updated public datasets."""
    found = tk.get_action("package_search")({}, {"sort": "metadata_modified desc", "rows": limit})
    return found["results"]


def dataset_count() -> int:
    return tk.get_action("package_search")({}, {"rows": 0})["count"]


class KcdataPlugin(p.SingletonPlugin):
    p.implements(p.IConfigurer)
    p.implements(p.ITemplateHelpers)
    p.implements(p.IActions)
    p.implements(p.IAuthFunctions)

    def update_config(self, config):
        tk.add_template_directory(config, "templates")

    def get_helpers(self):
        return {
            "kcdata_departments": departments,
            "kcdata_latest_datasets": latest_datasets,
            "kcdata_dataset_count": dataset_count,
        }

    def get_actions(self):
        return {"kcdata_datastore_load": datastore_load}

    def get_auth_functions(self):
        return {"kcdata_datastore_load": datastore_load_auth}
