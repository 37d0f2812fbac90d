"""The catalog web (the bureau's and departments' catalog, `web/`) as a service of the system.

It runs from the project's own virtualenv (`python -m web`) on 127.0.0.1:8000 with the system's
settings (lake, inbox, catalog store) and one secret of its own, the key that signs its anonymous
CSRF cookies. Like the Airflow services it starts through `stack.launch`, so supervisord's
configuration holds no secret and a changed setting restarts it.
"""
from __future__ import annotations

import sys
from pathlib import Path

from stack import secrets as sec
from stack.layout import HOST, PROJECT_ROOT, WEB_PORT, Layout, airflow_url, ckan_url
from stack.proc import http_json
from stack.supervisor import Program

NAME = "catalog-web"


def web_url() -> str:
    return f"http://{HOST}:{WEB_PORT}"


def ensure_secrets(layout: Layout) -> dict[str, str]:
    return sec.ensure(layout.secrets_file, sec.WEB_SECRET_KEY)


def environment(layout: Layout) -> dict[str, str]:
    """What the web process needs, its secret included: hand it to the process, never print it."""
    secrets = sec.load(layout.secrets_file)
    settings = sec.load(layout.system_env)
    return {
        **settings,
        "KCDATA_SYSTEM_HOME": str(layout.home),
        "KCDATA_WEB_SECRET_KEY": secrets.get(sec.WEB_SECRET_KEY, ""),
        "KCDATA_AIRFLOW_URL": airflow_url(),
        "KCDATA_CKAN_URL": settings.get("KCDATA_CKAN_URL") or secrets.get(sec.CKAN_URL) or ckan_url(),
    }


def command() -> list[str]:
    return [sys.executable, "-m", "web", "--host", HOST, "--port", str(WEB_PORT)]


def program(layout: Layout, digest: str) -> Program:
    python = str(Path(sys.executable))
    return Program(name=NAME, command=(python, "-m", "stack.launch", NAME, digest), directory=PROJECT_ROOT,
                   environment={"KCDATA_SYSTEM_HOME": str(layout.home)}, startsecs=3, stopwaitsecs=20, port=WEB_PORT)


def health() -> tuple[bool, str | None, str]:
    status, body = http_json(f"{web_url()}/healthz", timeout=5)
    if status == 200 and isinstance(body, dict):
        return True, body.get("version"), f"{body.get('resources', '?')} resources in the catalog"
    return False, None, f"HTTP {status}" if status else "not answering"
