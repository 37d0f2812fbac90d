#!/bin/bash
# Runs once, when the postgres service starts on an empty volume (the image's
# /docker-entrypoint-initdb.d). One role and database per store, the same names as the local
# stack (stack/postgres.py): Airflow's metadata (also Celery's result backend), kcdata's catalog
# store, CKAN and its DataStore. Passwords come from the service's environment (.env), never
# from this file, and are passed to psql as variables, not on a command line.
set -euo pipefail

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v airflow_pw="$AIRFLOW_DB_PASSWORD" -v catalog_pw="$KCDATA_CATALOG_DB_PASSWORD" \
  -v ckan_pw="$CKAN_DB_PASSWORD" -v datastore_pw="$DATASTORE_RO_PASSWORD" <<'SQL'
CREATE ROLE airflow LOGIN PASSWORD :'airflow_pw';
CREATE ROLE kcdata_catalog LOGIN PASSWORD :'catalog_pw';
CREATE ROLE ckan_default LOGIN PASSWORD :'ckan_pw';
CREATE ROLE datastore_default LOGIN PASSWORD :'datastore_pw';
CREATE DATABASE airflow OWNER airflow ENCODING 'UTF8' TEMPLATE template0;
CREATE DATABASE kcdata_catalog OWNER kcdata_catalog ENCODING 'UTF8' TEMPLATE template0;
CREATE DATABASE ckan_default OWNER ckan_default ENCODING 'UTF8' TEMPLATE template0;
CREATE DATABASE datastore_default OWNER ckan_default ENCODING 'UTF8' TEMPLATE template0;
SQL
