"""The local open-data portal stack: PostgreSQL, Redis, Solr 9 and CKAN 2.12 on 127.0.0.1.

`up()` / `down()` / `status()` drive it (also as `kcdata portal up|down|status`); `connection()`
gives the publisher (ckan_url, api_token).
"""
from stack.layout import Layout, get_layout
from stack.proc import PortalError
from stack.stack import connection, down, status, up
from stack.status import ComponentStatus, StackStatus

__all__ = [
    "ComponentStatus", "Layout", "PortalError", "StackStatus",
    "connection", "down", "get_layout", "status", "up",
]
