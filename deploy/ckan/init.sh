#!/bin/bash
# The one-shot set-up of CKAN (the ckan-init service), idempotent like the local stack's
# (stack/ckan.py): database tables and plugin migrations, the web assets, the DataStore's
# permissions, and the sysadmin account the publisher uses. Passwords come from the environment only.
set -euo pipefail

ckan db init
# built once into the shared storage volume before `ckan` starts: left to the first page views,
# each gunicorn worker builds them itself, and one reading a bundle another is still writing answers 500
ckan asset build
# the SQL CKAN prints, run as the database superuser as CKAN's documentation asks
# (DATASTORE_ADMIN_URL, given to this one-shot service only; read from the environment by
# psycopg2, CKAN's own driver: no password on a command line)
ckan datastore set-permissions | python -c '
import os, sys, psycopg2
with psycopg2.connect(os.environ["DATASTORE_ADMIN_URL"]) as conn, conn.cursor() as cur:
    cur.execute(sys.stdin.read())
'

# made a sysadmin, and created first when missing; the password goes to CKAN's prompt on stdin,
# never on a command line
printf '%s\n%s\n' "$CKAN_PUBLISHER_PASSWORD" "$CKAN_PUBLISHER_PASSWORD" \
  | ckan sysadmin add --create "$CKAN_PUBLISHER" email="$CKAN_PUBLISHER_EMAIL"
echo "CKAN ready. Give the publisher an API token once (then put it in .env as CKAN_API_TOKEN):"
echo "  docker compose run --rm ckan-init ckan user token add $CKAN_PUBLISHER kcdata"
