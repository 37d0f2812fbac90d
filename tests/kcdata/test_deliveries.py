"""`kcdata deliveries` tells a department where each file stands, by its name and delivery time
(never a server path): unmarked, refused and why, its version, held back, what comes next."""
from __future__ import annotations

from typer.testing import CliRunner

from catalog.entries import get_resource
from catalog.store import open_store
from flow.deliveries import deliveries

CLINICS = "KC-WSJK-001"


def test_each_delivery_is_shown_with_its_stage_and_what_comes_next(lake, tmp_path):
    from connectors.inbox import submit_delivery
    from flow.pipeline import land_and_validate
    from kcdata.cli import app
    from samples.generate import generate_resource

    resource = get_resource(CLINICS)
    folder = lake.inbox / resource.table
    folder.mkdir(parents=True)
    (folder / "half_copied.json").write_text("[", encoding="utf-8")  # no marker: never read
    good = generate_resource(resource, tmp_path / "good", rows=50, bad_share=0.0, seed=3).path
    land_and_validate(resource, good)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    submit_delivery(resource, broken, lake)
    from flow.pipeline import land_inbox

    land_inbox(resource, marked_only=True)

    shown = {d.file: d for d in deliveries(resource, lake, open_store(lake.catalog_url))}
    assert shown["half_copied.json"].stage == "unmarked"
    assert "no half_copied.json.ready marker" in shown["half_copied.json"].detail
    assert shown[good.name].stage == "validated" and shown[good.name].version == 1
    assert "transform (dbt) and the open view are next" in shown[good.name].detail
    assert shown["broken.json"].stage == "refused" and shown["broken.json"].trouble

    out = CliRunner().invoke(app, ["deliveries", CLINICS]).output
    assert "half_copied.json" in out and "refused" in out and "validated" in out
    assert str(lake.inbox) not in out and str(tmp_path) not in out  # file names, not server paths
