"""The running system's services on 127.0.0.1, under supervisord: PostgreSQL, Redis, SeaweedFS (S3),
Solr 9, CKAN 2.12 and Airflow 3.3 (api-server, scheduler, dag-processor, triggerer).

`up()` / `down()` / `status()` drive it (also as `kcdata up|down|status`); `connection()` gives the
publisher (ckan_url, api_token).
"""
from stack.layout import Layout, get_layout
from stack.proc import PortalError
from stack.stack import connection, down, ensure_s3, status, up
from stack.status import ComponentStatus, StackStatus

__all__ = [
    "ComponentStatus", "Layout", "PortalError", "StackStatus",
    "connection", "down", "ensure_s3", "get_layout", "status", "up",
]
