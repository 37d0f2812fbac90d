"""Where the running system keeps its state, and which loopback ports it uses.

Everything the system creates (databases, Solr's index, CKAN's virtualenv, Airflow's home, logs,
supervisord's socket, the generated secrets) lives under one folder OUTSIDE the repository:
`$KCDATA_SYSTEM_HOME`, else `/var/lib/kcdata/<checkout>-<hash>` for root and
`~/.local/state/kcdata/<checkout>-<hash>` for anyone else (one per checkout, so two clones never
share state). Removing that folder is a full reset; nothing secret can be committed by mistake.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from common.settings import read_settings

PROJECT_ROOT = Path(__file__).resolve().parents[1]

HOST = "127.0.0.1"
PG_PORT = 5432
REDIS_PORT = 6379
SOLR_PORT = 8983
CKAN_PORT = 5000
AIRFLOW_PORT = 8080
WEB_PORT = 8000
S3_PORT = 8333  # SeaweedFS (stack/seaweedfs.py); its other ports are loopback too

CKAN_VERSION = "2.12.0"
CKAN_REQUIREMENTS = (
    f"ckan[requirements]=={CKAN_VERSION}",
    "ckanext-scheming==3.1.0",
    "ckanext-dcat==2.4.4",
    "gunicorn==27.0.1",  # serves CKAN as deployments do (stack/ckan.py), beside CKAN's own pins
)
SOLR_CORE = "ckan"
PUBLISHER = "kcdata_publisher"

# A Unix socket path must stay under ~107 bytes (sun_path).
_MAX_SOCKET_DIR = 80


@dataclass(frozen=True)
class Layout:
    """The paths of one portal state folder."""

    home: Path

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def run(self) -> Path:
        """Pidfiles and stamps."""
        return self.home / "run"

    @property
    def pg_data(self) -> Path:
        return self.home / "pg"

    @property
    def pg_socket_dir(self) -> Path:
        candidate = self.home / "run" / "pg"
        if len(str(candidate)) <= _MAX_SOCKET_DIR:
            return candidate
        digest = hashlib.sha256(str(self.home).encode()).hexdigest()[:10]
        return Path(tempfile.gettempdir()) / f"kcdata-pg-{digest}"

    @property
    def redis_dir(self) -> Path:
        return self.home / "redis"

    @property
    def solr_home(self) -> Path:
        return self.home / "solr"

    @property
    def ckan_venv(self) -> Path:
        return self.home / "ckan-venv"

    @property
    def ckan_ini(self) -> Path:
        return self.home / "ckan.ini"

    @property
    def ckan_wsgi(self) -> Path:
        """Where gunicorn imports CKAN's WSGI app from (a copy of stack/_ckan_wsgi.py)."""
        return self.home / "ckan-wsgi" / "kcdata_ckan_wsgi.py"

    @property
    def storage(self) -> Path:
        return self.home / "storage"

    @property
    def secrets_file(self) -> Path:
        return self.home / "secrets.env"

    @property
    def keys_file(self) -> Path:
        """The lake's master key, the pseudonym key and the signing key (common/keys.py), mode 0600."""
        return self.home / "keys.env"

    @property
    def airflow_home(self) -> Path:
        return self.home / "airflow"

    @property
    def airflow_passwords(self) -> Path:
        """Airflow's simple auth manager reads the admin password from here (mode 0600)."""
        return self.home / "airflow-passwords.json"

    @property
    def system_env(self) -> Path:
        """The non-secret settings the services were started with (lake, inbox, SMTP host...)."""
        return self.home / "system.env"

    @property
    def supervisor_conf(self) -> Path:
        return self.home / "supervisord.conf"

    @property
    def supervisor_socket(self) -> Path:
        candidate = self.run / "supervisor.sock"
        if len(str(candidate)) <= _MAX_SOCKET_DIR + 20:
            return candidate
        digest = hashlib.sha256(str(self.home).encode()).hexdigest()[:10]
        return Path(tempfile.gettempdir()) / f"kcdata-supervisor-{digest}.sock"

    def pidfile(self, name: str) -> Path:
        return self.run / f"{name}.pid"

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"


# Committed inputs of the stack (not state).
SOLR_PROJECT = PROJECT_ROOT / "stack" / "solr"
SOLR_CONF = SOLR_PROJECT / "conf"
DATASET_SCHEMA = PROJECT_ROOT / "portal" / "ckan" / "kcdata_dataset.yaml"
CKAN_EXTENSION = PROJECT_ROOT / "portal" / "ckan" / "ckanext-kcdata"  # our CKAN plugin + DCAT profile
CKAN_BOOTSTRAP = Path(__file__).resolve().parent / "_ckan_bootstrap.py"
CKAN_WSGI = Path(__file__).resolve().parent / "_ckan_wsgi.py"


def default_home() -> Path:
    """Outside the checkout, one folder per checkout (named after it, with a hash of its path)."""
    tag = f"{PROJECT_ROOT.name}-{hashlib.sha256(str(PROJECT_ROOT).encode()).hexdigest()[:8]}"
    if os.geteuid() == 0:
        return Path("/var/lib/kcdata") / tag
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "kcdata" / tag


def get_layout() -> Layout:
    """The state folder in force: `$KCDATA_SYSTEM_HOME`, else `default_home()`."""
    home = read_settings().system_home
    return Layout(home.expanduser().resolve() if home else default_home())


def ckan_url() -> str:
    return f"http://{HOST}:{CKAN_PORT}"


def solr_url() -> str:
    return f"http://{HOST}:{SOLR_PORT}/solr"


def airflow_url() -> str:
    return f"http://{HOST}:{AIRFLOW_PORT}"
