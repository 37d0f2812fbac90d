"""Which portal the CLI publishes to: the wiring's job, so that publishing never knows the stack."""
from __future__ import annotations

from portal.client import CkanTarget


def ckan_target() -> CkanTarget:
    """KCDATA_CKAN_URL/KCDATA_CKAN_TOKEN when set (a real portal), else the local stack's secrets.
    (Airflow tasks use the `kcdata_ckan` connection instead; the repository holds neither.)"""
    from stack import connection

    return CkanTarget(*connection())
