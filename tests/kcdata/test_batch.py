"""One chain run takes many resources at once (flow/batch.py): each keeps its own outcome, and one
resource's failure never stops the others; what failed waits where it was for the next run."""
from __future__ import annotations

from pathlib import Path

from catalog.entries import get_resource, load_catalog
from catalog.store import open_store
from common.lake import Zone
from common.settings import Paths
from connectors.inbox import marked_tables
from flow.batch import choose_resources, ingest_batch, split
from samples.generate import generate_resource

AIR, ENTERPRISES, TRAFFIC, CLINICS = "KC-STHJ-001", "KC-SCJG-001", "KC-JTYS-001", "KC-WSJK-001"


def _deliver(paths: Paths, code: str, rows: int, bad_share: float) -> Path:
    resource = get_resource(code)
    file = generate_resource(resource, paths.inbox, rows=rows, bad_share=bad_share, seed=3).path
    Path(f"{file}.ready").touch()
    return file


def test_a_mixed_batch_ends_with_each_resources_own_outcome(lake: Paths, mark_delivered) -> None:
    good = _deliver(lake, AIR, 300, 0.0)
    held = _deliver(lake, TRAFFIC, 300, 0.4)  # 40% quarantined > 5%: held back
    broken = _deliver(lake, CLINICS, 200, 0.0)
    enterprises = get_resource(ENTERPRISES)
    empty = lake.inbox / enterprises.table / "empty.csv"
    empty.parent.mkdir(parents=True, exist_ok=True)
    empty.write_bytes(",".join(i.name for i in enterprises.source_items).encode("gb18030") + b"\n")  # no rows: refused
    Path(f"{empty}.ready").touch()
    raw_of_clinics = lake.table_dir(Zone.raw, "clinics")
    raw_of_clinics.parent.mkdir(parents=True, exist_ok=True)
    raw_of_clinics.write_text("not a folder")  # the lake cannot take this resource's batches: it fails

    chosen = choose_resources(load_catalog(), tables=[], marked=marked_tables(lake))
    assert {r.code for r in chosen} == {AIR, TRAFFIC, CLINICS, ENTERPRISES}
    outcomes = {o.code: o for o in ingest_batch(chosen, lake)}

    assert outcomes[AIR].changed and outcomes[AIR].event["passed"] and not outcomes[AIR].error
    assert outcomes[TRAFFIC].changed and outcomes[TRAFFIC].event["held_back"] and not outcomes[TRAFFIC].error
    assert [r["code"] for r in outcomes[ENTERPRISES].refused] == ["no-data-rows"] and not outcomes[ENTERPRISES].changed
    assert outcomes[CLINICS].error and not outcomes[CLINICS].changed
    store = open_store()
    assert store.latest_version(AIR).validation_passed and not store.latest_version(TRAFFIC).validation_passed
    assert store.latest_version(CLINICS) is None
    assert not good.exists() and not held.exists() and not empty.exists()  # archived
    assert broken.exists() and marked_tables(lake) == {"clinics"}  # the failed delivery waits, still marked
    # the batch's Data Docs: a result page for each new validation, all in the index
    index = lake.data_docs_index.read_text(encoding="utf-8")
    for code in (AIR, TRAFFIC):
        run = outcomes[code].results[0]["outcome"]["gx_run"]
        assert run in index, code
        assert [p for p in (lake.data_docs_index.parent / "validations").rglob("*.html") if run in p.as_posix()], code

    # mended, the next run takes the one that failed, and nothing else is done twice
    raw_of_clinics.unlink()
    again = {o.code: o for o in ingest_batch(choose_resources(load_catalog(), tables=[], marked=marked_tables(lake)), lake)}
    assert set(again) == {CLINICS} and again[CLINICS].changed and not again[CLINICS].error
    assert store.latest_version(CLINICS).rows_in == 200
    assert [v.version for v in store.resource(AIR)[1]] == [1]


def test_groups_balance_the_bytes_waiting_and_never_split_a_resource(lake: Paths) -> None:
    big = _deliver(lake, AIR, 3000, 0.0)
    for code in (TRAFFIC, CLINICS, ENTERPRISES):
        _deliver(lake, code, 200, 0.0)
    resources = choose_resources(load_catalog(), tables=[], marked=marked_tables(lake))
    groups = split(resources, 2, lake)
    assert len(groups) == 2 and sorted(t for g in groups for t in g) == sorted(r.table for r in resources)
    assert ["air_quality_hourly"] in groups  # the heaviest alone; the three small ones together
    assert split(resources[:1], 2, lake) == [[resources[0].table]]  # a lone delivery is one group
    assert split([], 2, lake) == []
    assert big.stat().st_size > 0
