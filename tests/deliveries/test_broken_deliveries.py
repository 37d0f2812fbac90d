"""Every delivery gets an answer: each broken file of the corpus, dropped into the inbox and
ingested with `kcdata ingest CODE` as a bureau engineer would, ends as the corpus says, with a
message and never a traceback; nothing is lost (accepted + quarantined = rows sent) and a
refused file leaves a record and feedback behind.
"""
from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pytest
from corpus import CASES, LANDED, REFUSED, Case  # tests/deliveries/corpus.py
from typer.testing import CliRunner

from catalog.entries import get_resource
from catalog.store import open_store
from common.lake_crypto import duckdb_source
from kcdata.cli import app

MESSAGE_LIMIT = 400  # characters of a refusal's message, in each language


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("deliveries")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KCDATA_LAKE", str(root / "lake"))
        mp.setenv("KCDATA_INBOX", str(root / "inbox"))
        mp.delenv("KCDATA_CATALOG_URL", raising=False)
        yield root


def _deliver(env: Path, case: Case):
    resource = get_resource(case.resource)
    inbox = env / "inbox" / resource.table
    inbox.mkdir(parents=True, exist_ok=True)
    path = case.make(inbox)
    result = CliRunner().invoke(app, ["ingest", case.resource])
    return resource, path, result


def _no_traceback(result) -> None:
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)


@pytest.mark.parametrize("case", REFUSED, ids=[c.name for c in REFUSED])
def test_a_refused_delivery_says_why_and_leaves_a_record(env, case):
    resource, path, result = _deliver(env, case)
    _no_traceback(result)
    assert result.exit_code == 1, result.output
    assert "refused" in result.output and path.name in result.output.replace("\n", "")
    record = [r for r in open_store().refused_deliveries(resource.code) if Path(r.source_file).name == path.name]
    assert record, "the refusal is recorded in the catalog"
    assert record[-1].code in case.codes, (record[-1].code, record[-1].message_en)
    for message in (record[-1].message_en, record[-1].message_zh):  # a short paragraph, never pages of a file's bytes
        assert len(message) <= MESSAGE_LIMIT and message.isprintable(), message
    assert len(result.output) <= 2 * len(str(path)) + 2 * MESSAGE_LIMIT + 400, result.output
    with open(record[-1].feedback_path, encoding="utf-8-sig", newline="") as fh:
        lines = list(csv.DictReader(fh))
    assert lines[0]["问题代码"] == record[-1].code and lines[0]["问题说明"] and lines[0]["description"]
    if path.is_symlink() or path.is_fifo():
        path.unlink()  # never read nor moved: the bureau removes it (it is refused on every pass until then)
    assert not path.exists(), "a refused regular file is archived, not left in the inbox"


@pytest.mark.parametrize("case", LANDED, ids=[c.name for c in LANDED])
def test_a_landed_delivery_loses_no_row(env, case):
    resource, path, result = _deliver(env, case)
    _no_traceback(result)
    assert result.exit_code == 0, result.output
    version = open_store().latest_version(resource.code)
    assert Path(version.source_file).name == path.name
    assert version.rows_in == case.rows_sent
    assert version.rows_accepted + version.rows_quarantined == case.rows_sent
    con = duckdb.connect()
    quarantine = duckdb_source(con, Path(version.quarantine_path), "quarantine")  # decrypts personal items
    found = dict(
        con.sql(f"SELECT _row, list(x.rule) FROM (SELECT _row, unnest(_reasons) AS x FROM {quarantine}) GROUP BY _row").fetchall()
    )
    for row, code in case.bad_rows.items():
        assert code in found.get(row, []), (row, code, found)
    assert set(found) == set(case.bad_rows), f"only the broken rows are quarantined: {found}"
    assert {d["code"] for d in version.delivery_problems or []} == set(case.warnings)
    assert not path.exists(), "the delivery is archived"
    archived = list((path.parent / ".archive").rglob(path.name))
    assert archived and archived[0].stat().st_size > 0


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 30


def test_feedback_shows_the_value_as_sent(env):
    resource = get_resource("KC-SCJG-001")
    store = open_store()
    version = next(v for v in store.resource(resource.code)[1] if v.source_file.endswith("huge_capital.csv"))
    feedback = Path(version.quarantine_path).with_name("feedback.csv")
    text = feedback.read_text(encoding="utf-8-sig")
    assert "1e40" in text and "1e+40" not in text
    assert "[0, 10000000]" in text  # the message names the item's range
