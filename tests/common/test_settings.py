"""kcdata's settings: one typed model (common.settings.KcdataSettings) for every KCDATA_ variable.

A typo or a wrong value is refused at start, naming the variable; a secret never shows; and every
KCDATA_ name the repository's code, scripts and deployment use is a field of the model, so a new
variable nobody declared fails here.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from common.settings import VARIABLES, KcdataSettings, SettingsError, read_settings, settings_or_exit

ROOT = Path(__file__).resolve().parents[2]
# KCDATA_ names in the repository that are not environment variables, and why
NOT_SETTINGS = {
    "KCDATA_MASTER_KEY_NEXT": "an entry of the keys file while `kcdata keys rotate` runs, never read from the environment",
    "KCDATA_MASTER_KEY_PREVIOUS": "an entry of the keys file while `kcdata keys rotate` runs, never read from the environment",
    "KCDATA_SHAPES": "a constant of tests/shapes (the SHACL shapes file)",
}
NAME = re.compile(r"(?<![A-Za-z0-9_])KCDATA_[A-Z0-9_]+")
SKIPPED_SUFFIXES = (".md", ".png", ".svg", ".ico", ".woff", ".woff2", ".parquet", ".xlsx", ".xls", ".db")


def test_a_typo_is_refused_with_the_name_and_the_closest_setting(monkeypatch):
    monkeypatch.setenv("KCDATA_LOCK_TIMEUOT", "60")
    with pytest.raises(SettingsError, match=r"unknown setting KCDATA_LOCK_TIMEUOT: did you mean KCDATA_LOCK_TIMEOUT\?"):
        read_settings()


def test_an_unknown_name_far_from_any_setting_is_refused_too(monkeypatch):
    monkeypatch.setenv("KCDATA_ZZZ", "1")
    with pytest.raises(SettingsError, match="unknown setting KCDATA_ZZZ"):
        read_settings()


@pytest.mark.parametrize(("name", "value", "said"), [
    ("KCDATA_CELERY_WORKERS", "abc", "KCDATA_CELERY_WORKERS='abc': Input should be a valid integer"),
    ("KCDATA_LOCK_TIMEOUT", "soon", "KCDATA_LOCK_TIMEOUT='soon'"),
    ("KCDATA_GX_ENGINE", "spark", "KCDATA_GX_ENGINE='spark': Input should be 'duckdb' or 'pandas'"),
    ("KCDATA_LAKE", "s3://", "KCDATA_LAKE='s3://': name a bucket"),
    ("KCDATA_XLS_MAX_BYTES", "0", "KCDATA_XLS_MAX_BYTES='0'"),
])
def test_a_wrong_value_is_refused_naming_the_variable(monkeypatch, name, value, said):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as refused:
        read_settings()
    assert said in str(refused.value)


def test_every_problem_is_said_at_once(monkeypatch):
    monkeypatch.setenv("KCDATA_CELERY_WORKERS", "many")
    monkeypatch.setenv("KCDATA_INBXO", "/srv/inbox")
    with pytest.raises(SettingsError) as refused:
        read_settings()
    assert "KCDATA_CELERY_WORKERS='many'" in str(refused.value)
    assert "KCDATA_INBXO: did you mean KCDATA_INBOX?" in str(refused.value)


def test_the_settings_follow_the_environment_as_it_is_now(monkeypatch, tmp_path):
    monkeypatch.setenv("KCDATA_LOCK_TIMEOUT", "12.5")
    assert read_settings().lock_timeout == 12.5
    monkeypatch.setenv("KCDATA_LOCK_TIMEOUT", "30")
    assert read_settings().lock_timeout == 30
    monkeypatch.delenv("KCDATA_LOCK_TIMEOUT")
    assert read_settings().lock_timeout == KcdataSettings.model_fields["lock_timeout"].default
    monkeypatch.setenv("KCDATA_INBOX", str(tmp_path))
    assert read_settings().inbox == tmp_path


def test_an_empty_variable_is_an_unset_one(monkeypatch):
    monkeypatch.setenv("KCDATA_LOCK_TIMEOUT", "")
    monkeypatch.setenv("KCDATA_WEB_URL", "")
    given = read_settings()
    assert given.lock_timeout == 900 and given.web_url is None


def test_the_spellings_kcdata_always_took_still_work(monkeypatch):
    monkeypatch.setenv("KCDATA_GX_ENGINE", " Pandas ")
    monkeypatch.setenv("KCDATA_EXECUTOR", "CeleryExecutor")
    assert (read_settings().gx_engine, read_settings().executor) == ("pandas", "celery")


def test_secrets_never_show(monkeypatch):
    secret = "c2VjcmV0LXZhbHVlLW5ldmVyLXByaW50ZWQtYW55d2hlcmU="
    monkeypatch.setenv("KCDATA_MASTER_KEY", secret)
    monkeypatch.setenv("KCDATA_WEB_SECRET_KEY", secret)
    monkeypatch.setenv("KCDATA_CATALOG_URL", f"postgresql+psycopg://kcdata:{secret}@db/kcdata_catalog")
    monkeypatch.setenv("KCDATA_CELERY_WORKERS", "x")
    with pytest.raises(SettingsError) as refused:
        read_settings()
    assert secret not in str(refused.value)
    monkeypatch.delenv("KCDATA_CELERY_WORKERS")
    given = read_settings()
    assert secret not in repr(given) and secret not in str(given)
    assert given.text("KCDATA_MASTER_KEY") == secret  # handed to the code that needs it


def test_every_setting_is_documented_and_grouped():
    for name, field in KcdataSettings.model_fields.items():
        assert field.description and "\n" not in field.description, name
        assert (field.json_schema_extra or {}).get("group"), f"{name} has no group"


def test_a_program_refused_at_start_says_why_without_a_traceback(monkeypatch):
    monkeypatch.setenv("KCDATA_SMTP_PROT", "25")
    with pytest.raises(SystemExit) as stopped:
        settings_or_exit("python -m web")
    assert str(stopped.value.code).startswith("python -m web: unknown setting KCDATA_SMTP_PROT")


def test_the_cli_refuses_wrong_settings_before_any_command(monkeypatch):
    from typer.testing import CliRunner

    from kcdata.cli import app

    monkeypatch.setenv("KCDATA_LOCK_TIMEOUT", "forever")
    result = CliRunner().invoke(app, ["problems"])
    assert result.exit_code == 1
    assert "KCDATA_LOCK_TIMEOUT='forever'" in result.output
    assert "Traceback" not in result.output


def test_a_stage_task_fails_at_once_on_wrong_settings(monkeypatch):
    from airflow.sdk.exceptions import AirflowFailException

    from orchestration.task_faults import fail_at_once_on_user_errors

    monkeypatch.setenv("KCDATA_CELERY_CONCURENCY", "4")
    with pytest.raises(AirflowFailException, match="did you mean KCDATA_CELERY_CONCURRENCY"):
        with fail_at_once_on_user_errors():
            pass


def _repository_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split()
    here = Path(__file__).resolve()
    return [ROOT / f for f in listed if not f.endswith(SKIPPED_SUFFIXES) and (ROOT / f).is_file() and ROOT / f != here]


def test_every_kcdata_name_in_the_repository_is_a_setting():
    """Code, scripts, tests, the stack's programs and the container deployment: a KCDATA_ name
    there is a field of KcdataSettings (or a prefix of fields, as in `startswith("KCDATA_CELERY_")`),
    else it would be refused at start."""
    found: dict[str, set[str]] = {}
    for path in _repository_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for name in set(NAME.findall(text)):
            found.setdefault(name, set()).add(path.relative_to(ROOT).as_posix())
    assert {"KCDATA_LAKE", "KCDATA_IMAGE_TAG", "KCDATA_PYTHON", "KCDATA_WORKER_NAME"} <= set(found), "the scan is broken"
    undeclared = {name: sorted(where) for name, where in found.items()
                  if name not in VARIABLES and name not in NOT_SETTINGS
                  and not (name.endswith("_") and any(v.startswith(name) for v in VARIABLES))}
    assert not undeclared, f"KCDATA_ names that are not fields of common.settings.KcdataSettings: {undeclared}"
