"""When an entry's rules or limits change, the stored deliveries are validated again under the
new rules, as new versions with the history kept, by the CLI and by the ingest DAG alike; with
nothing changed, nothing is done. And a declared missing-value token is a missing value, never
a type error.
"""
from __future__ import annotations

import shutil

import pytest
import yaml
from typer.testing import CliRunner

from common.settings import PROJECT_ROOT

CODE = "KC-SCJG-001"
ENTRY = "market_supervision/enterprise_registrations.yaml"


@pytest.fixture
def catalog(tmp_path, monkeypatch):
    """A copy of the catalog the test may edit, and a fresh lake."""
    folder = tmp_path / "catalog"
    shutil.copytree(PROJECT_ROOT / "catalog" / "resources", folder)
    monkeypatch.setenv("KCDATA_CATALOG_DIR", str(folder))
    monkeypatch.setenv("KCDATA_LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("KCDATA_INBOX", str(tmp_path / "inbox"))
    monkeypatch.delenv("KCDATA_CATALOG_URL", raising=False)
    return folder


def _edit(folder, **changes) -> None:
    """Change the entry (load_catalog caches by folder: each edit gets a fresh cache)."""
    from catalog.entries import forget_loaded_catalog

    path = folder / ENTRY
    entry = yaml.safe_load(path.read_text(encoding="utf-8"))
    entry.update(changes)
    path.write_text(yaml.safe_dump(entry, allow_unicode=True, sort_keys=False), encoding="utf-8")
    forget_loaded_catalog()


def _delivery(folder, rows: int = 20, bad: int = 2, capital: str = "100.5") -> None:
    from corpus import HEADERS, csv_text, enterprise  # tests/deliveries/corpus.py

    data = [enterprise(i, capital) for i in range(rows)]
    for i in range(bad):
        data[i][4] = "壹佰万"  # not a number
    inbox = folder.parent / "inbox" / "enterprise_registrations"
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / "registrations.csv").write_bytes(csv_text(data, HEADERS).encode("gb18030"))


def test_changed_limits_validate_stored_deliveries_again(catalog, airflow_db):
    from catalog.store import open_store
    from kcdata.cli import app
    from orchestration.airflow_run import run_pipeline

    _delivery(catalog)
    first = CliRunner().invoke(app, ["ingest", CODE])
    assert first.exit_code == 0, first.output
    store = open_store()
    v1 = store.latest_version(CODE)
    assert (v1.version, v1.rows_quarantined, v1.validation_passed) == (1, 2, False)  # 10% > 5%: held back
    assert "held back" in first.output

    # nothing changed: nothing to do
    again = CliRunner().invoke(app, ["revalidate", CODE])
    assert again.exit_code == 0 and "nothing to do" in again.output
    assert store.latest_version(CODE).version == 1

    # the bureau raises the limit: the stored delivery is validated again, as version 2
    _edit(catalog, max_bad_share=0.2)
    raised = CliRunner().invoke(app, ["revalidate", CODE])
    assert raised.exit_code == 0, raised.output
    assert "validated again" in raised.output
    v2 = store.latest_version(CODE)
    assert (v2.version, v2.fingerprint, v2.validation_passed) == (2, v1.fingerprint, True)
    assert v2.rules != v1.rules
    assert [v.version for v in store.resource(CODE)[1]] == [1, 2]  # history kept

    # the chain does the same when the rules change again (through Airflow)
    _edit(catalog, max_bad_share=0.01)
    run_pipeline(tables=["enterprise_registrations"])
    v3 = store.latest_version(CODE)
    assert (v3.version, v3.fingerprint, v3.validation_passed) == (3, v1.fingerprint, False)
    run_pipeline(tables=["enterprise_registrations"])
    assert store.latest_version(CODE).version == 3  # nothing changed since: nothing done


def test_declared_missing_value_tokens_are_missing_values(catalog):
    from catalog.entries import get_resource
    from catalog.store import open_store
    from flow.pipeline import land_inbox, validate_pending

    _edit(catalog, missing_values=["-", "无"])
    resource = get_resource(CODE)
    from corpus import HEADERS, csv_text, enterprise

    rows = [enterprise(i) for i in range(4)]
    rows[0][6] = "-"  # optional street: missing, fine
    rows[1][6] = "无"
    rows[2][4] = "-"  # required capital: missing-value, not a type error
    rows[3][6] = "NA"  # no longer a token for this entry: not in the allowed streets
    inbox = catalog.parent / "inbox" / resource.table
    inbox.mkdir(parents=True)
    (inbox / "tokens.csv").write_bytes(csv_text(rows, HEADERS).encode("gb18030"))
    land_inbox(resource)
    (result,) = validate_pending(resource)
    assert result.outcome.by_rule == {"missing-value": 1, "not-allowed": 1}
    assert open_store().latest_version(CODE).rows_accepted == 2
