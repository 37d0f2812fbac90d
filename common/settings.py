"""Every kcdata setting, typed and documented, and where things live.

Each setting is a `KCDATA_<NAME>` environment variable and one field of `KcdataSettings`: its
type, its default and one line for the operator (the docs' settings reference is generated from
the fields; `json_schema_extra["group"]` sorts them into sections). `read_settings()` reads the
environment as it is at the call, so a test's `monkeypatch.setenv` shows at once; it is cached on
the `KCDATA_*` items, so a read costs a scan of the environment. A wrong value or an unknown
`KCDATA_` name (a typo) is a SettingsError naming the variable, with the closest known name for a
typo, never a traceback and never a secret's value. Nothing outside this module reads a kcdata
setting from `os.environ`; child processes are still handed variables.
"""
from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from common.errors import KcdataError
from common.lake import LakeLayout
from common.lake_store import lake_root

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENV_PREFIX = "KCDATA_"

PLACES = "places"
KEYS = "keys"
WEB = "catalog web"
PORTAL = "portal (CKAN)"
LANDING = "landing and validation"
PIPELINE = "pipeline and lineage"
RUNNING_SYSTEM = "running system (kcdata up)"
DEPLOYMENT = "container deployment (.env of docker compose)"
DEVELOPMENT = "development"


class SettingsError(KcdataError):
    """A `KCDATA_*` variable is unknown or holds a value of the wrong kind."""


def setting(default: Any, description: str, group: str, **constraints: Any) -> Any:
    """One field of KcdataSettings: its default, its line of documentation, its section."""
    return Field(default, description=description, json_schema_extra={"group": group}, **constraints)


class KcdataSettings(BaseSettings):
    """All of kcdata's settings; an unset variable takes the default shown."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True)

    # places
    home: Path | None = setting(None, "Root folder whose lake/ and inbox/ are the defaults of KCDATA_LAKE and KCDATA_INBOX "
                                      "(unset: the checkout)", PLACES)
    lake: str | None = setting(None, "The lake's root: a folder, or s3://bucket/prefix for object storage "
                                     "(unset: $KCDATA_HOME/lake)", PLACES)
    inbox: Path | None = setting(None, "The folder departments deliver files into (unset: $KCDATA_HOME/inbox)", PLACES)
    catalog_dir: Path | None = setting(None, "The folder of catalog entries, one sub-folder per department "
                                             "(unset: the checkout's catalog/resources)", PLACES)
    catalog_url: str | None = setting(None, "SQLAlchemy URL of the catalog store, e.g. postgresql+psycopg://... "
                                            "(unset: SQLite in the lake, lake/catalog.db)", PLACES, repr=False)
    work: Path | None = setting(None, "Local scratch folder for a lake on object storage: dbt's database, GX, staged batches "
                                      "(unset: a folder per lake in ~/.cache/kcdata)", PLACES)
    system_home: Path | None = setting(None, "The running system's state folder: databases, logs, secrets, keys (unset: "
                                             "one folder per checkout in /var/lib/kcdata as root, else ~/.local/state/kcdata)", PLACES)
    node_modules: Path | None = setting(None, "Where the offline data docs' JavaScript comes from "
                                              "(unset: the checkout's node_modules)", PLACES)

    # keys (kept out of reprs and messages)
    keys_file: Path | None = setting(None, "File of NAME=value key lines, mode 0600 (unset: $KCDATA_SYSTEM_HOME/keys.env)", KEYS)
    master_key: SecretStr | None = setting(None, "AES-256 master key (base64 of 32 bytes) wrapping the lake's data keys "
                                                 "(unset: from the keys file)", KEYS)
    pseudonym_key: SecretStr | None = setting(None, "HMAC-SHA256 key (base64 of 32 bytes) of pseudonymised items in the open "
                                                    "view (unset: from the keys file)", KEYS)
    signing_key: SecretStr | None = setting(None, "Ed25519 private key (base64 of 32 bytes) signing every published version's "
                                                  "manifest (unset: from the keys file)", KEYS)

    # the catalog web
    web_url: str | None = setting(None, "Public address of the catalog web; when set, e-mails link to its resource pages", WEB)
    web_secret_key: SecretStr | None = setting(None, "Key signing the catalog web's sessions (unset: a key for this process "
                                                     "only, so sessions end with it)", WEB)
    web_login_max_failures: int = setting(5, "Failed sign-ins of one user within the window before it is locked", WEB, ge=1)
    web_login_max_failures_per_client: int = setting(20, "Failed sign-ins from one address within the window before it is "
                                                         "locked", WEB, ge=1)
    web_login_window_minutes: float = setting(15.0, "Minutes over which failed sign-ins are counted", WEB, gt=0)
    web_session_idle_minutes: float = setting(60.0, "Minutes without a request after which a session ends", WEB, gt=0)
    web_session_max_hours: float = setting(8.0, "Hours after sign-in at which a session ends however active", WEB, gt=0)
    airflow_url: str = setting("http://127.0.0.1:8080", "Airflow's address, for the web's links to DAG runs", WEB)

    # the portal
    ckan_url: str | None = setting(None, "Address of a real CKAN portal to publish to (with KCDATA_CKAN_TOKEN; unset: the "
                                         "running system's CKAN)", PORTAL)
    ckan_token: SecretStr | None = setting(None, "API token of the publisher on the CKAN at KCDATA_CKAN_URL", PORTAL)
    ckan_attempts: int = setting(5, "Attempts of one CKAN call before publishing gives up", PORTAL, ge=1)
    publish_ways: int = setting(3, "Datasets one publish run sends to CKAN at once (CKAN serves several requests at a time)",
                                PORTAL, ge=1)

    # landing and validation
    lock_timeout: float = setting(900.0, "Seconds a run waits for a resource's lock held by another run", LANDING, ge=0)
    max_file_bytes: int = setting(4 << 30, "Largest delivered file accepted, in bytes; larger ones are refused as too-large",
                                  LANDING, ge=1)
    land_chunk_bytes: int = setting(32 << 20, "Bytes of rows landed as one unit; landing's memory is a few of these "
                                              "(at least 1 MiB is used)", LANDING, ge=1)
    xlsx_max_bytes: int = setting(1 << 30, "Largest inflated size of an XLSX workbook, in bytes (a zip bomb guard)", LANDING,
                                  ge=1)
    xls_max_bytes: int = setting(64 << 20, "Largest old .xls file read, in bytes (it is read into memory whole)", LANDING,
                                 ge=1)
    gx_engine: Literal["duckdb", "pandas"] = setting("duckdb", "The engine Great Expectations validates on: duckdb, or "
                                                               "pandas in chunks", LANDING)
    validate_chunk_rows: int = setting(1_000_000, "Rows per chunk when validating on the pandas engine", LANDING, ge=1)
    validate_memory_limit: str = setting("2GB", "DuckDB memory limit of the validation database, e.g. 2GB", LANDING)

    # pipeline and lineage
    reconcile_cron: str | None = setting(None, "Cron of the reconciliation runs that pick up missed deliveries; off turns "
                                               "them off (unset: */10 * * * *)", PIPELINE)
    chain_ways: int = setting(2, "Groups a chain run splits the resources it takes into: each group is landed and "
                                 "validated by one task, in one process, on any free worker", PIPELINE, ge=1)
    dbt_tables: str | None = setting(None, "Set by kcdata for its dbt runs: the comma-separated resources a run reads "
                                           "(unset: all)", PIPELINE)
    openlineage_url: str | None = setting(None, "OpenLineage HTTP server (Marquez, DataHub) to send lineage to (unset: "
                                                "lineage goes to files in the lake)", PIPELINE)
    openlineage_endpoint: str = setting("api/v1/lineage", "Path of the lineage endpoint on KCDATA_OPENLINEAGE_URL "
                                                          "(DataHub: openapi/openlineage/api/v1/lineage)", PIPELINE)
    openlineage_api_key: SecretStr | None = setting(None, "Bearer token for KCDATA_OPENLINEAGE_URL, when it wants one",
                                                    PIPELINE)

    # the running system (settings of the shell that runs `kcdata up`)
    executor: Literal["local", "celery"] = setting("local", "Airflow's executor on the running system: local, or celery "
                                                            "for separate worker processes", RUNNING_SYSTEM)
    celery_workers: int = setting(2, "Celery worker processes, with KCDATA_EXECUTOR=celery", RUNNING_SYSTEM, ge=1)
    celery_concurrency: int = setting(2, "Task slots per Celery worker", RUNNING_SYSTEM, ge=1)
    celery_heartbeat_timeout: int = setting(60, "Seconds without a heartbeat after which the task of a dead Celery worker is "
                                                "failed and retried on another (Airflow's task_instance_heartbeat_timeout)",
                                            RUNNING_SYSTEM, ge=10)
    parse_interval: int = setting(5, "Seconds between two parses of a DAG file; raise it for a big catalog",
                                  RUNNING_SYSTEM, ge=1)
    worker_name: str | None = setting(None, "Set by kcdata up in each Celery worker: its name, recorded as its tasks' "
                                            "hostname", RUNNING_SYSTEM)

    # the container deployment: read by docker compose from .env, listed so that a shell holding them is accepted
    image_tag: str = setting("latest", "Tag of the kcdata images docker compose runs", DEPLOYMENT)
    catalog_db_password: SecretStr | None = setting(None, "Password of the catalog store's PostgreSQL user in the container "
                                                          "deployment", DEPLOYMENT)
    web_public_url: str = setting("http://127.0.0.1:8000", "Public address of the catalog web in the container deployment "
                                                           "(becomes KCDATA_WEB_URL)", DEPLOYMENT)

    # development
    python: str = setting("python3.11", "The Python scripts/setup.sh builds the project's virtualenv with", DEVELOPMENT)

    @field_validator("*", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object, info: ValidationInfo) -> object:
        """An empty variable is an unset one, as kcdata always read them; but an empty
        KCDATA_DBT_TABLES is a dbt run that reads no resource."""
        if value == "" and info.field_name != "dbt_tables":
            return cls.model_fields[str(info.field_name)].default
        return value

    @field_validator("gx_engine", "executor", mode="before")
    @classmethod
    def _lowercase(cls, value: object) -> object:
        """`DuckDB `, `CeleryExecutor`: the spellings kcdata always took."""
        return value.strip().lower().removesuffix("executor") if isinstance(value, str) else value

    @field_validator("lake")
    @classmethod
    def _lake_names_a_bucket(cls, value: str | None) -> str | None:
        """`s3://` alone is refused at start, not at the first write."""
        try:
            lake_root(value or "")
        except ValueError as exc:  # its message names the variable and the value: _wrong() does
            raise ValueError(str(exc).split(": ", 1)[-1]) from None
        return value

    def text(self, variable: str) -> str | None:
        """The value of `variable` (KCDATA_...) as text, a secret unwrapped: for code that looks a
        setting up by its variable's name (the keys). None when unset."""
        value = getattr(self, field_name(variable))
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        return None if value is None else str(value)

    def as_environment(self) -> dict[str, str]:
        """The settings set in the environment, as variables for a child process (secrets included:
        hand them over, never print them)."""
        return {env_name(name): text for name in sorted(self.model_fields_set) if (text := self.text(env_name(name)))}


def env_name(field: str) -> str:
    """`KCDATA_LAKE` for the field `lake`."""
    return ENV_PREFIX + field.upper()


def field_name(variable: str) -> str:
    """`lake` for `KCDATA_LAKE`."""
    return variable.removeprefix(ENV_PREFIX).lower()


VARIABLES = tuple(env_name(name) for name in KcdataSettings.model_fields)


def read_settings() -> KcdataSettings:
    """kcdata's settings as the environment holds them now; SettingsError names what is wrong."""
    environ = os.environ
    return _settings_of(tuple(sorted((name, environ[name]) for name in environ if name.startswith(ENV_PREFIX))))


def settings_or_exit(program: str) -> KcdataSettings:
    """At a program's start: its settings, or exit naming what is wrong (a message, no traceback)."""
    try:
        return read_settings()
    except SettingsError as exc:
        raise SystemExit(f"{program}: {exc}") from None


@lru_cache(maxsize=16)
def _settings_of(items: tuple[tuple[str, str], ...]) -> KcdataSettings:
    problems = [_unknown(name) for name, _ in items if name.upper() not in VARIABLES]
    try:
        loaded = KcdataSettings()
    except ValidationError as exc:
        problems += [_wrong(error) for error in exc.errors()]
        loaded = None
    if problems or loaded is None:
        raise SettingsError("; ".join(problems))
    return loaded


def _unknown(name: str) -> str:
    close = difflib.get_close_matches(name.upper(), VARIABLES, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]}?" if close else "see the settings reference in the documentation"
    return f"unknown setting {name}: {hint}"


def _wrong(error: Any) -> str:
    field = str(error["loc"][0]) if error.get("loc") else ""
    info = KcdataSettings.model_fields.get(field)
    secret = info is not None and (not info.repr or "SecretStr" in str(info.annotation))
    shown = "" if secret or "input" not in error else f"={error['input']!r}"
    return f"{env_name(field)}{shown}: {error['msg'].removeprefix('Value error, ')}"


@dataclass(frozen=True)
class Paths(LakeLayout):
    """One kcdata installation: its lake (layout in common.lake), inbox and project folders."""

    root: Path = PROJECT_ROOT
    inbox: Path = PROJECT_ROOT / "inbox"
    catalog_dir: Path = PROJECT_ROOT / "catalog" / "resources"
    dbt_project: Path = PROJECT_ROOT / "dbt"
    expectations_dir: Path = PROJECT_ROOT / "expectations"

    @property
    def catalog_url(self) -> str:
        return read_settings().catalog_url or self.default_catalog_url


def get_paths() -> Paths:
    """Read the layout from the environment (KCDATA_LAKE, KCDATA_INBOX), defaulting to the repo."""
    given = read_settings()
    root = given.home or PROJECT_ROOT
    return Paths(
        lake=lake_root(given.lake or root / "lake"),
        root=root,
        inbox=given.inbox or root / "inbox",
        catalog_dir=given.catalog_dir or PROJECT_ROOT / "catalog" / "resources",
    )
