"""Orchestration: everything that imports Airflow (the DAG topology, the delivery trigger, the REST
API client, running DAGs in-process, connections, task faults, OpenLineage). The DAG files in dags/
are built from it; the flow below it never imports Airflow."""
