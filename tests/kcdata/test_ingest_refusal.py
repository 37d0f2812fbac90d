"""`kcdata ingest CODE FILE` with a file refused as a whole: the flow records it once, and the CLI
prints that record (the reason and the department's feedback file) without recording it again."""
from __future__ import annotations

from typer.testing import CliRunner

from catalog.entries import get_resource
from catalog.store import CatalogStore, open_store

CLINICS = "KC-WSJK-001"


def test_a_refused_file_is_recorded_once_and_printed_as_recorded(lake, tmp_path, monkeypatch):
    from kcdata.cli import app

    calls = []
    record_refusal = CatalogStore.record_refusal

    def spy(store, resource, refusal):
        calls.append(refusal["source_file"])
        return record_refusal(store, resource, refusal)

    monkeypatch.setattr(CatalogStore, "record_refusal", spy)
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    result = CliRunner().invoke(app, ["ingest", CLINICS, str(empty)])

    assert result.exit_code == 1, result.output
    assert calls == [str(empty)], "recorded once (the store would hide a second call: it keeps one row per file)"
    [record] = open_store(lake.catalog_url).refused_deliveries(get_resource(CLINICS).code)
    assert record.code == "empty-file" and record.source_file == str(empty)
    output = " ".join(result.output.split())
    assert output.startswith("refused: empty.csv") and "[empty-file]" in output
    assert f"recorded in the catalog; feedback for the department: {record.feedback_path}" in output
