"""
### Publish every approved open dataset to the CKAN portal

Run by hand, or by `kcdata approve` after a department reviewer approved a version (the chain,
`chain__deliveries`, publishes what each of its batches rebuilt). Every resource goes through the
publication gate (open type allows it, latest version passed validation, a department reviewer
approved it). Passing resources are created or updated in place on CKAN (one organisation per
department, one dataset per resource, CSV + Parquet + data dictionary + DataStore table, and the
signed manifest: manifest.json, manifest.json.sig, signing-key.pem); resources whose approval was
withdrawn are retracted. Re-running changes nothing. Then every dataset on the portal gets a
metadata-quality score (MQA-style, from the portal's own DCAT record and links), recorded so the
catalog web shows it and its trend. A resource in which the leak gate finds personal data is not
uploaded at all; the `leak_gate` task then fails the run with the report (resource, file, column,
rule, count; never a value), while every other resource is published and scored as usual.

CKAN's address and API token come from the Airflow connection `kcdata_ckan` (host = portal URL,
password = API token), never from the repository.
"""
from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from orchestration.publish_tasks import publish_tasks
from orchestration.topology import PUBLISH

with DAG(
    dag_id=PUBLISH,
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["kcdata", "publish", "ckan"],
    doc_md=__doc__,
) as dag:
    publish_tasks(None)
